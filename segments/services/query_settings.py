"""The PostgreSQL settings the heavy segment queries run with (the preview's counts, the
member lists, overlaps and exports, the refresh's member query, and the benchmark that
measures them), and the time limit of the ones a person waits for."""

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from typing import TypeVar

from django.conf import settings as django_settings
from django.db import connections

from crm.core.replica import report_database, report_reads
from crm.core.time_limit import query_time_limit
from segments.exceptions import SegmentQueryTimedOut

Row = TypeVar("Row")

# PostgreSQL settings of the heavy segment queries (preview counts, the refresh's member
# query), SET LOCAL for their transaction only. Measured with bench/bench_segments.py on
# 1M customers / 10M orders, the 3-level nested rule: 4.3 s at the database's defaults,
# 2.2 s with these. JIT compilation alone took 1.3 s of it (these plans are scans, hashes
# and aggregates, which JIT barely speeds up), and with 4 MB of work_mem each per-customer
# GROUP BY ran as an index scan over every order in customer order instead of an
# in-memory hash aggregate. 32 MB holds the ~200k groups per parallel worker of 1M
# customers.
SEGMENT_QUERY_SETTINGS = {"jit": "off", "work_mem": "32MB"}


def apply_segment_query_settings(**extra: str) -> None:
    """SET LOCAL the SEGMENT_QUERY_SETTINGS (and `extra`) until the current transaction
    ends, on the database the queries read (crm.core.replica.report_database: the replica
    inside a preview's report_reads()). Call inside transaction.atomic() on it."""
    settings = {**SEGMENT_QUERY_SETTINGS, **extra}
    with connections[report_database()].cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join("set_config(%s, %s, true)" for _ in settings),
            [item for pair in settings.items() for item in pair],
        )


def statement_timeout_seconds() -> float:
    """settings.SEGMENT_STATEMENT_TIMEOUT_SECONDS: how long one segment query may run."""
    return float(django_settings.SEGMENT_STATEMENT_TIMEOUT_SECONDS)


@contextmanager
def segment_query_time_limit(*, replica: bool = False, **extra: str) -> Iterator[None]:
    """Run the block in a transaction with the SEGMENT_QUERY_SETTINGS (and `extra`) and a
    statement timeout of SEGMENT_STATEMENT_TIMEOUT_SECONDS (crm.core.time_limit), on the
    database the block reads (the replica inside report_reads(), else the primary).
    `replica`: the block is a preview, whose reads go to the replica when there is one.

    A query the timeout cancels raises SegmentQueryTimedOut. A query cancelled for another
    reason (pg_cancel_backend) is re-raised as the OperationalError it is.
    """
    # (the second item is evaluated inside the first: the alias report_reads() chose)
    with (
        report_reads() if replica else nullcontext(),
        query_time_limit(
            statement_timeout_seconds(),
            timed_out=SegmentQueryTimedOut,
            settings={**SEGMENT_QUERY_SETTINGS, **extra},
        ),
    ):
        yield


def rows_within_time_limit(read_rows: Callable[[], Iterable[Row]]) -> Iterator[Row]:
    """The rows of a streamed export, read in one transaction under the time limit (each
    fetch is one statement).

    The first rows are read before this returns, so that a query too slow to give any row
    raises SegmentQueryTimedOut here, before a download starts; one cancelled later ends
    the download early. Closing the returned iterator ends the transaction.
    """
    rows = _rows_in_transaction(read_rows)
    first = next(rows, _NO_ROW)
    return _streamed(first, rows)


_NO_ROW = object()


def _rows_in_transaction(read_rows: Callable[[], Iterable[Row]]) -> Iterator[Row]:
    with segment_query_time_limit():
        yield from read_rows()


def _streamed(first, rows: Iterator[Row]) -> Iterator[Row]:
    if first is _NO_ROW:
        return
    try:
        yield first
        yield from rows
    finally:
        rows.close()
