"""TEMP staging tables: a batch's rows typed like the target columns, filled with one COPY,
and the upserts that carry them into the real tables.

A batch's staging content is made without the database (PreparedBatch, built in the reader
thread, see batches.read_ahead); storing it creates the TEMP tables, COPYs into them and
runs one INSERT ... SELECT ... ON CONFLICT per target table, whose RETURNING says what it
did (see upsert).
"""

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.db import connection, models

from crm.models import Customer, Identity
from crm.services.imports.layouts import Rows
from crm.services.imports.results import BatchOutcome, RowError


def model_field(model: type[models.Model], name: str) -> models.Field:
    """The model field a staged column is typed like."""
    return model._meta.get_field(name)


@dataclass(frozen=True)
class Staging:
    """The rows of one TEMP staging table, made ready without the database: the columns
    typed like the target fields (None: integer) and the rows as CSV text for COPY."""

    columns: tuple[tuple[str, models.Field | None], ...]
    csv_text: str

    @classmethod
    def from_rows(
        cls, columns: Iterable[tuple[str, models.Field | None]], rows: Iterable
    ) -> "Staging":
        """Staging content of `rows` (tuples in the order of `columns`).

        CSV written by the C csv module (psycopg's write_row took 3 µs a row, the csv
        writer ~2). QUOTE_NONNUMERIC quotes every text, so an empty text stays '' and only
        the nullable columns (FORCE_NULL in stage) read an empty quoted value as NULL.
        """
        buffer = io.StringIO()
        csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n").writerows(rows)
        return cls(tuple(columns), buffer.getvalue())


@dataclass
class PreparedBatch:
    """A batch ready for the database: its good rows (repeated keys dropped), the
    refusals so far, and the content of its staging tables."""

    rows: Rows
    errors: list[RowError]
    staging: dict[str, Staging] = field(default_factory=dict)
    # The distinct customer references (customer_key, source, external_id) of orders and
    # events, resolved before the kind's own upsert.
    references: list[tuple[str, str, str]] = field(default_factory=list)


# The staged columns of a customer reference, as crm.services.identities.REFERENCE_JOINS
# reads them.
REFERENCE_COLUMNS = (
    ("customer_key", model_field(Customer, "customer_id")),
    ("source", model_field(Identity, "source")),
    ("external_id", model_field(Identity, "external_id")),
)


def stage(cursor, table: str, staging: Staging) -> None:
    """Create TEMP `table` and fill it with one COPY."""
    cursor.execute(f"DROP TABLE IF EXISTS {table}")
    definitions = ", ".join(
        f"{name} {target.db_type(connection) if target else 'integer'}"
        for name, target in staging.columns
    )
    cursor.execute(f"CREATE TEMP TABLE {table} ({definitions})")
    names = ", ".join(name for name, _ in staging.columns)
    nullable = [name for name, target in staging.columns if target and target.null]
    force_null = f", FORCE_NULL ({', '.join(nullable)})" if nullable else ""
    with cursor.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT csv{force_null})") as copy:
        copy.write(staging.csv_text)


@dataclass(frozen=True)
class Changes:
    """What an upsert wrote: the pks it created, the pks it created or updated, and the
    customers those rows belong to (for a moved order also the customer it left)."""

    created: set[int]
    written: set[int]
    customers: set[int]


def upsert(cursor, *, sql: str, params: dict) -> Changes:
    """Run an upsert whose RETURNING gives (pk, owner, created, previous owner) rows.

    `created` is `table.xmax = 0`: a row version this statement inserted has no deleting
    or locking transaction, whereas ON CONFLICT DO UPDATE leaves its own transaction id in
    xmax. The previous owner comes from a subquery in RETURNING, which reads the
    statement's snapshot, i.e. the row before the update.

    Plain tuples and set comprehensions: an object per returned row took ~1.1 s per
    million rows, the comprehensions ~0.15 s.
    """
    cursor.execute(sql, params)
    rows = cursor.fetchall()
    return Changes(
        created={row[0] for row in rows if row[2]},
        written={row[0] for row in rows},
        customers={row[1] for row in rows} | {row[3] for row in rows if row[3] is not None},
    )


def count_changes(outcome: BatchOutcome, changes: Changes, staged: int) -> None:
    """Add an upsert's changes of `staged` rows to the batch's outcome."""
    outcome.created += len(changes.created)
    outcome.updated += len(changes.written) - len(changes.created)
    outcome.unchanged += staged - len(changes.written)
    outcome.touched_customer_ids |= changes.customers


def differs(table: str, new_values: Mapping[str, str]) -> str:
    """`(table.a, table.b) IS DISTINCT FROM (new a, new b)` for an ON CONFLICT WHERE."""
    olds = ", ".join(f"{table}.{name}" for name in new_values)
    return f"({olds}) IS DISTINCT FROM ({', '.join(new_values.values())})"


def excluded(names: Iterable[str]) -> dict[str, str]:
    """`EXCLUDED.name` for each name: the values the upsert proposed."""
    return {name: f"EXCLUDED.{name}" for name in names}
