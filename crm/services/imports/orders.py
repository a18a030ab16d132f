"""Storing orders and their items from a staged batch.

Orders are keyed by order_id and reference their customer (a plain customer id or an
identity), resolved through crm.services.identities; an order whose customer changed
counts for both customers' metrics. Items are keyed by (order_id, sku) and refused when
their order is unknown. Optional columns absent from the header keep their stored values.
"""

from collections.abc import Callable
from datetime import datetime

from crm.models import Order, OrderItem
from crm.services import identities
from crm.services.imports import cells
from crm.services.imports.layouts import Plan, keep_last
from crm.services.imports.results import BatchOutcome, RowError
from crm.services.imports.staging import (
    REFERENCE_COLUMNS,
    PreparedBatch,
    Staging,
    count_changes,
    differs,
    excluded,
    model_field,
    stage,
    upsert,
)

ORDER_VALUE_COLUMNS = ("placed_at", "amount", "channel", "store", "city", "status", "coupon_code")
ITEM_COLUMNS = ("sku", "category", "quantity", "unit_price")


def prepare_orders(prepared: PreparedBatch, *, plan: Plan, place: Callable[[int], str]) -> None:
    """Keep the last row of each order_id and build the orders' staging table."""
    rows = prepared.rows = keep_last(
        prepared.rows,
        prepared.rows.values["order_id"],
        lambda key: f'order_id "{key}"',
        place,
        prepared.errors,
    )
    keys, sources, external_ids = cells.split_references(rows.values["customer_id"])
    prepared.references = cells.distinct_references(keys, sources, external_ids)
    prepared.staging["import_stage_orders"] = Staging.from_rows(
        [
            ("order_id", model_field(Order, "order_id")),
            *REFERENCE_COLUMNS,
            *((name, model_field(Order, name)) for name in ORDER_VALUE_COLUMNS),
        ],
        zip(
            rows.values["order_id"],
            keys,
            sources,
            external_ids,
            *(rows.values[name] for name in ORDER_VALUE_COLUMNS),
            strict=False,  # sources and external_ids may be endless repeat("")
        ),
    )


def store_orders(
    cursor, prepared: PreparedBatch, *, plan: Plan, now: datetime, outcome: BatchOutcome
) -> None:
    """Upsert the staged orders; a moved order touches its old and its new customer."""
    stage(cursor, "import_stage_orders", prepared.staging["import_stage_orders"])
    # Optional columns absent from the header keep their stored values.
    written = ["customer_id", "placed_at", "amount"] + [
        name
        for name in ("channel", "store", "city", "status", "coupon_code")
        if name in plan.present
    ]
    changes = upsert(
        cursor,
        sql=f"""
        INSERT INTO crm_order (order_id, customer_id, {", ".join(ORDER_VALUE_COLUMNS)},
                               created_at, updated_at)
        SELECT s.order_id, {identities.REFERENCED_CUSTOMER_PK},
               {", ".join(f"s.{name}" for name in ORDER_VALUE_COLUMNS)}, %(now)s, %(now)s
        FROM import_stage_orders s {identities.REFERENCE_JOINS}
        ON CONFLICT (order_id) DO UPDATE
            SET {", ".join(f"{name} = EXCLUDED.{name}" for name in written)},
                updated_at = EXCLUDED.updated_at
            WHERE {differs("crm_order", excluded(written))}
        RETURNING crm_order.id, crm_order.customer_id, (crm_order.xmax = 0),
                  CASE WHEN crm_order.xmax = 0 THEN NULL ELSE (SELECT previous.customer_id
                       FROM crm_order previous WHERE previous.id = crm_order.id) END
        """,
        params={"now": now},
    )
    count_changes(outcome, changes, len(prepared.rows))
    cursor.execute("DROP TABLE import_stage_orders")


def prepare_order_items(
    prepared: PreparedBatch, *, plan: Plan, place: Callable[[int], str]
) -> None:
    """Keep the last row of each (order_id, sku) and build the items' staging table."""
    keys = list(zip(prepared.rows.values["order_id"], prepared.rows.values["sku"], strict=True))
    rows = prepared.rows = keep_last(
        prepared.rows,
        keys,
        lambda key: f'order_id "{key[0]}" with sku "{key[1]}"',
        place,
        prepared.errors,
    )
    prepared.staging["import_stage_order_items"] = Staging.from_rows(
        [
            ("line", None),
            ("order_id", model_field(Order, "order_id")),
            *((name, model_field(OrderItem, name)) for name in ITEM_COLUMNS),
        ],
        zip(
            rows.positions,
            rows.values["order_id"],
            *(rows.values[name] for name in ITEM_COLUMNS),
            strict=True,
        ),
    )


def store_order_items(
    cursor, prepared: PreparedBatch, *, plan: Plan, now: datetime, outcome: BatchOutcome
) -> None:
    """Refuse the items of unknown orders and upsert the others."""
    stage(cursor, "import_stage_order_items", prepared.staging["import_stage_order_items"])
    cursor.execute(
        """
        SELECT s.line, s.order_id FROM import_stage_order_items s
        WHERE NOT EXISTS (SELECT 1 FROM crm_order o WHERE o.order_id = s.order_id)
        """
    )
    unknown = cursor.fetchall()
    outcome.errors.extend(
        RowError(line, f'order_id "{identities.shorten(order_id)}" is not a known order')
        for line, order_id in unknown
    )
    written = ["quantity", "unit_price"] + (["category"] if "category" in plan.present else [])
    changes = upsert(
        cursor,
        sql=f"""
        INSERT INTO crm_orderitem (order_id, {", ".join(ITEM_COLUMNS)}, created_at, updated_at)
        SELECT o.id, {", ".join(f"s.{name}" for name in ITEM_COLUMNS)}, %(now)s, %(now)s
        FROM import_stage_order_items s JOIN crm_order o ON o.order_id = s.order_id
        ON CONFLICT (order_id, sku) DO UPDATE
            SET {", ".join(f"{name} = EXCLUDED.{name}" for name in written)},
                updated_at = EXCLUDED.updated_at
            WHERE {differs("crm_orderitem", excluded(written))}
        RETURNING crm_orderitem.id,
                  (SELECT o.customer_id FROM crm_order o WHERE o.id = crm_orderitem.order_id),
                  (crm_orderitem.xmax = 0), NULL
        """,
        params={"now": now},
    )
    count_changes(outcome, changes, len(prepared.rows) - len(unknown))
    cursor.execute("DROP TABLE import_stage_order_items")
