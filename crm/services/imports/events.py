"""Storing behaviour events from a staged batch.

Events carry no key of their own: the natural key (customer, kind, occurred_at, channel,
sku) makes a repeated event one event, so the insert does nothing on conflict and a
re-import adds nothing.
"""

from collections.abc import Callable
from datetime import datetime

from django.db import connection

from crm.models import BehaviourEvent
from crm.services import identities
from crm.services.imports import cells
from crm.services.imports.layouts import Plan
from crm.services.imports.results import BatchOutcome
from crm.services.imports.staging import (
    REFERENCE_COLUMNS,
    PreparedBatch,
    Staging,
    model_field,
    stage,
)

EVENT_COLUMNS = ("kind", "occurred_at", "channel", "sku", "category")


def prepare_events(prepared: PreparedBatch, *, plan: Plan, place: Callable[[int], str]) -> None:
    """Build the events' staging table."""
    values = prepared.rows.values
    keys, sources, external_ids = cells.split_references(values["customer_id"])
    prepared.references = cells.distinct_references(keys, sources, external_ids)
    prepared.staging["import_stage_events"] = Staging.from_rows(
        [
            *REFERENCE_COLUMNS,
            *((name, model_field(BehaviourEvent, name)) for name in EVENT_COLUMNS),
        ],
        zip(
            keys,
            sources,
            external_ids,
            *(values[name] for name in EVENT_COLUMNS),
            strict=False,  # sources and external_ids may be endless repeat("")
        ),
    )


def store_events(
    cursor, prepared: PreparedBatch, *, plan: Plan, now: datetime, outcome: BatchOutcome
) -> None:
    """Insert the staged events not stored yet; the others count as unchanged."""
    stage(cursor, "import_stage_events", prepared.staging["import_stage_events"])
    payload = model_field(BehaviourEvent, "payload")
    cursor.execute(
        f"""
        INSERT INTO crm_behaviourevent (customer_id, {", ".join(EVENT_COLUMNS)}, payload,
                                        created_at, updated_at)
        SELECT {identities.REFERENCED_CUSTOMER_PK},
               {", ".join(f"s.{name}" for name in EVENT_COLUMNS)}, %(payload)s, %(now)s, %(now)s
        FROM import_stage_events s {identities.REFERENCE_JOINS}
        ON CONFLICT (customer_id, kind, occurred_at, channel, sku) DO NOTHING
        RETURNING customer_id
        """,
        {"now": now, "payload": payload.get_db_prep_save(payload.get_default(), connection)},
    )
    created = [row[0] for row in cursor.fetchall()]
    outcome.created += len(created)
    outcome.unchanged += len(prepared.rows) - len(created)
    outcome.touched_customer_ids.update(created)
    cursor.execute("DROP TABLE import_stage_events")
