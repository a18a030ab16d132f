"""The recompute: today's value of every derived field, cached on Customer for speed at now.

The fields are defined once, in crm.measures, at any instant; this service evaluates those
definitions at `as_of` (now, for the nightly run and after imports) and writes the values
that changed, in a few set-based statements over all the customers in scope:

    1. metrics_totals    crm.measures.customer_totals: one GROUP BY over the scope's paid
                         orders (totals, new/returning, value tier, stage, weekend buyer,
                         promotion sensitivity)
    2. metrics_channel,  crm.measures' preferences, each one ranked GROUP BY
       metrics_daypart,
       metrics_category
    3. RFM               a full run takes the quintile edges of the instant over everyone
                         (crm.measures.rfm_edges) and stores them; a scoped run scores its
                         customers against the last stored edges instead of rescaling
                         everyone (until the next nightly run, the one difference between
                         the cache and the definition at now)
    4. metrics_new       every scoped customer's new values
    5. stage changes     one INSERT of (customer, from, to, as_of) where the stage moved: a
                         record of the moves the recompute saw (flows between stages come
                         from crm.measures at a period's ends, not from these rows)
    6. the UPDATE        of only the rows whose values differ, so a rerun writes 0 rows;
                         when it rewrote enough of them, fresh planner statistics
                         (crm.services.statistics): segments read these columns
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction

from crm import measures
from crm.measures import Sql
from crm.models import LifecycleSettings, RfmBreakpoints
from crm.services import statistics

# Measured on the 2-core machine: the 4 MB default made the 10M-order GROUP BY spill to
# disk and run 3-4x slower (issue #2); the setting is local to this transaction.
RECOMPUTE_WORK_MEM = "256MB"

# Columns written by the final UPDATE, in the order metrics_new holds them.
METRIC_COLUMNS = (
    "first_order_at",
    "last_order_at",
    "order_count",
    "total_spent",
    "avg_order_value",
    "is_returning",
    "value_tier",
    "lifecycle_stage",
    "preferred_category",
    "promotion_sensitivity",
    "preferred_channel",
    "weekend_buyer",
    "usual_daypart",
    "rfm_recency",
    "rfm_frequency",
    "rfm_monetary",
    "rfm_group",
)
_TOTALS_COLUMNS = (
    "first_order_at",
    "last_order_at",
    "order_count",
    "total_spent",
    "avg_order_value",
    "is_returning",
    "value_tier",
    "lifecycle_stage",
    "weekend_buyer",
    "promotion_sensitivity",
)
_PREFERENCES = {
    "metrics_channel": ("preferred_channel", measures.preferred_channels),
    "metrics_daypart": ("usual_daypart", measures.usual_dayparts),
    "metrics_category": ("preferred_category", measures.preferred_categories),
}
_TEMP_TABLES = (
    "metrics_scope",
    "metrics_scope_orders",
    "metrics_totals",
    *_PREFERENCES,
    "metrics_edges",
    "metrics_rfm",
    "metrics_new",
)


@dataclass(frozen=True)
class RecomputeResult:
    customers_in_scope: int
    customers_updated: int
    stage_changes: int


def current_lifecycle_settings() -> LifecycleSettings:
    """The single settings row, created with the SPEC defaults on first use."""
    lifecycle_settings, _ = LifecycleSettings.objects.get_or_create(pk=1)
    return lifecycle_settings


@transaction.atomic
def recompute_customer_metrics(
    *, as_of: datetime, customer_ids: Iterable[int] | None = None
) -> RecomputeResult:
    """Recompute every derived column for the given customers (all when None) as of `as_of`.

    Only paid orders placed at or before `as_of` count. A full run (customer_ids None) also
    recomputes the RFM quintile edges; a scoped run scores against the last stored edges so
    one customer's import does not rescale everyone. Rows whose values did not change are
    not written, so a rerun with nothing new updates 0 rows and records no stage change.
    Atomic: readers see either the old or the new values of every customer.
    """
    ids = None if customer_ids is None else sorted({int(pk) for pk in customer_ids})
    if ids == []:
        return RecomputeResult(customers_in_scope=0, customers_updated=0, stage_changes=0)
    thresholds = measures.thresholds_from(current_lifecycle_settings())
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{RECOMPUTE_WORK_MEM}'")
        _drop_temp_tables(cursor)
        scope = None
        if ids is not None:
            scope = _scope_orders(cursor, ids=ids, as_of=as_of)
        _create(
            cursor,
            "metrics_totals",
            measures.customer_totals(as_of=as_of, thresholds=thresholds, scope=scope),
        )
        for table, (_, build) in _PREFERENCES.items():
            _create(cursor, table, build(as_of=as_of, scope=scope))
        _rfm(cursor, as_of=as_of, full_run=ids is None)
        cursor.execute(_new_values_sql(scoped=ids is not None))
        cursor.execute("SELECT COUNT(*) FROM metrics_new")
        in_scope = cursor.fetchone()[0]
        cursor.execute("ANALYZE metrics_new")
        cursor.execute(
            """
            INSERT INTO crm_stagechange (customer_id, from_stage, to_stage, changed_at)
            SELECT n.id, n.old_stage, n.lifecycle_stage, %s
            FROM metrics_new n WHERE n.old_stage <> n.lifecycle_stage
            """,
            [as_of],
        )
        stage_changes = cursor.rowcount
        assignments = ", ".join(f"{column} = n.{column}" for column in METRIC_COLUMNS)
        differs = " OR ".join(
            f"crm_customer.{column} IS DISTINCT FROM n.{column}" for column in METRIC_COLUMNS
        )
        cursor.execute(
            f"""
            UPDATE crm_customer SET {assignments}, updated_at = %s
            FROM metrics_new n
            WHERE crm_customer.id = n.id AND ({differs})
            """,
            [as_of],
        )
        updated = cursor.rowcount
        _drop_temp_tables(cursor)
    statistics.refresh_statistics(
        written={"crm_customer": updated, "crm_stagechange": stage_changes}
    )
    return RecomputeResult(
        customers_in_scope=in_scope, customers_updated=updated, stage_changes=stage_changes
    )


def _scope_orders(cursor, *, ids: list[int], as_of: datetime) -> str:
    """A copy of the scope's paid orders up to as_of (metrics_scope_orders, analysed): the
    table the scoped measures read instead of crm_order. Returns its name.

    Measured on 10,000 of 1M customers (94,000 orders): narrowed by `customer_id = ANY` or
    by a join, the planner expected 10x the orders (n_distinct of customer_id is sampled
    at 94k for 862k buyers) and scanned all 10M orders, and all 19M items for the
    preferred category: 5.0 s in all. From the analysed copy, with random_page_cost at
    1.1 (an SSD's, for this transaction: the 4.0 default priced 94,000 index look-ups of
    items above a scan of all 19M, as it also expects 16 items per order for 2), it looks
    up the copied orders' items by order: 0.4 s.
    """
    cursor.execute("SET LOCAL jit = off")  # small inputs: compiling costs more than it saves
    cursor.execute("SET LOCAL random_page_cost = 1.1")
    cursor.execute("CREATE TEMP TABLE metrics_scope (id bigint PRIMARY KEY)")
    cursor.execute("INSERT INTO metrics_scope SELECT unnest(%s::bigint[])", [ids])
    cursor.execute("ANALYZE metrics_scope")
    orders = measures.paid_orders_up_to(as_of=as_of)
    cursor.execute(
        "CREATE TEMP TABLE metrics_scope_orders AS"
        " SELECT o.id, o.customer_id, o.placed_at, o.amount, o.channel, o.coupon_code, o.status"
        f" FROM metrics_scope s JOIN {orders.relation} ON o.customer_id = s.id"
        f" WHERE {orders.condition.text}",
        orders.condition.params,
    )
    cursor.execute("ANALYZE metrics_scope_orders")
    return "metrics_scope_orders"


def _create(cursor, table: str, query: Sql) -> None:
    cursor.execute(f"CREATE TEMP TABLE {table} AS {query.text}", query.params)
    cursor.execute(f"ANALYZE {table}")


def _drop_temp_tables(cursor) -> None:
    for table in _TEMP_TABLES:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")


def _rfm(cursor, *, as_of: datetime, full_run: bool) -> None:
    """metrics_rfm: the scores and group of every customer in metrics_totals.

    A full run takes the edges of the instant over everyone and stores them (recency edges
    as ages, so a later scoped run can place them relative to its own as_of); a scoped run
    takes the last stored edges (or, before any full run, the stored columns' edges).
    """
    if full_run:
        cursor.execute(
            f"CREATE TEMP TABLE metrics_edges AS {measures.rfm_edges(totals='metrics_totals')}"
        )
        cursor.execute("SELECT * FROM metrics_edges")
        row = cursor.fetchone()
        if row[0] is not None:
            RfmBreakpoints.objects.create(
                computed_at=as_of,
                as_of=as_of,
                recency_edges=[(as_of - edge).total_seconds() for edge in row[0:4]],
                frequency_edges=[int(edge) for edge in row[4:8]],
                monetary_edges=[str(edge) for edge in row[8:12]],
            )
    else:
        edges = _stored_edges(cursor, as_of=as_of)
        columns = [f"{prefix}{k}" for prefix in "rfm" for k in range(1, 5)]
        types = ["timestamptz"] * 4 + ["bigint"] * 4 + ["numeric"] * 4
        cursor.execute(
            "CREATE TEMP TABLE metrics_edges AS SELECT "
            + ", ".join(
                f"CAST(%s AS {kind}) AS {column}"
                for kind, column in zip(types, columns, strict=True)
            ),
            edges,
        )
    cursor.execute(
        "CREATE TEMP TABLE metrics_rfm AS "
        + measures.rfm_scores(totals="metrics_totals", edges="metrics_edges")
    )


def _stored_edges(cursor, *, as_of: datetime) -> list:
    """The last full run's edges placed at `as_of`; before any full run, the edges of the
    stored columns of everyone (the last values the cache holds)."""
    latest = RfmBreakpoints.objects.first()
    if latest is not None:
        return [
            *(as_of - timedelta(seconds=age) for age in latest.recency_edges),
            *latest.frequency_edges,
            *latest.monetary_edges,
        ]
    totals = (
        "(SELECT id AS customer_id, last_order_at, order_count, total_spent"
        " FROM crm_customer WHERE order_count > 0) stored"
    )
    cursor.execute(measures.rfm_edges(totals=totals))
    return list(cursor.fetchone())


def _new_values_sql(*, scoped: bool) -> str:
    without = measures.WITHOUT_ORDERS
    literal = {column: _literal(without[column]) for column in without}
    totals = ", ".join(
        f"COALESCE(t.{column}, {literal[column]}) AS {column}"
        if without[column] is not None
        else f"t.{column}"
        for column in _TOTALS_COLUMNS
    )
    preferences = ", ".join(
        f"COALESCE({table}.value, {literal[column]}) AS {column}"
        for table, (column, _) in _PREFERENCES.items()
    )
    joins = " ".join(f"LEFT JOIN {table} ON {table}.customer_id = c.id" for table in _PREFERENCES)
    scope = "WHERE c.id IN (SELECT id FROM metrics_scope)" if scoped else ""
    return f"""
        CREATE TEMP TABLE metrics_new AS
        SELECT c.id, c.lifecycle_stage AS old_stage, {totals}, {preferences},
               r.rfm_recency, r.rfm_frequency, r.rfm_monetary,
               COALESCE(r.rfm_group, {literal["rfm_group"]}) AS rfm_group
        FROM crm_customer c
        LEFT JOIN metrics_totals t ON t.customer_id = c.id
        {joins}
        LEFT JOIN metrics_rfm r ON r.customer_id = c.id
        {scope}
    """


def _literal(value) -> str:
    """A constant of WITHOUT_ORDERS as SQL (a fixed vocabulary, never user input)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return f"'{value}'"
    return str(value)
