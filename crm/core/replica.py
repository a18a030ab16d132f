"""Reports read from a PostgreSQL read replica when one is configured (DATABASE_REPLICA_URL:
the `replica` alias); everything else, writes and the claim engine included, stays on the
primary.

A report's selector runs inside `report_reads()`: there the router sends the ORM's reads to
the replica, and `report_cursor()` opens the raw SQL's cursor on it. Outside that block
nothing is routed, so a write, a claim or a read that must see its own write never meets a
replica, however it is called. A replica lags its primary by its replay delay, so a report
may miss the last moments. A long report on a hot standby can be cancelled when replay
conflicts with it; a replica for reports wants `hot_standby_feedback = on` or a larger
`max_standby_streaming_delay`. Such a cancel raises ReplicaConflict: the API answers 503
with its reason, and the pages a 503 page that says to try again.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from rest_framework import status

from crm.core.api import DomainRefusal

REPLICA = "replica"
# SQLSTATEs of a query a hot standby cancels to go on replaying (PostgreSQL's
# ResolveRecoveryConflictWith*: serialization_failure, deadlock_detected, database_dropped);
# each message reads "... conflict with recovery".
RECOVERY_CONFLICT_STATES = frozenset({"40001", "40P01", "57P04"})


class ReplicaConflict(DomainRefusal):
    """The read replica cancelled a report's or preview's query to replay the primary's
    changes (a lock or a row version it still needed): nothing is wrong with the request,
    and the same request usually succeeds a moment later."""

    http_status = status.HTTP_503_SERVICE_UNAVAILABLE
    retry_after_seconds = 5

    def __init__(self) -> None:
        super().__init__(
            "replica_conflict",
            "The read replica stopped this query to apply the latest changes from the "
            "primary database; try again in a moment.",
        )


def is_recovery_conflict(error: DatabaseError) -> bool:
    """Whether `error` is a hot standby's cancel of a query in conflict with its replay."""
    cause = error.__cause__
    return getattr(
        cause, "sqlstate", None
    ) in RECOVERY_CONFLICT_STATES and "conflict with recovery" in str(cause)


# True inside report_reads(); False inside primary_reads(), which a report selector called
# within does not turn back to the replica; None elsewhere.
_reading_reports: ContextVar[bool | None] = ContextVar("reading_reports", default=None)


def replica_configured() -> bool:
    """Whether DATABASES has a replica (DATABASE_REPLICA_URL)."""
    return REPLICA in connections.settings


def report_database() -> str:
    """The alias report reads use now: the replica inside `report_reads()`, if there is
    one."""
    if _reading_reports.get() and replica_configured():
        return REPLICA
    return DEFAULT_DB_ALIAS


def report_cursor():
    """A cursor for a report's raw SQL (see report_database)."""
    return connections[report_database()].cursor()


@contextmanager
def report_reads() -> Iterator[None]:
    """Within: the reads of a report, routed to the replica when there is one (unless
    within primary_reads()). A query the replica cancels in conflict with its replay raises
    ReplicaConflict."""
    token = _reading_reports.set(_reading_reports.get() is not False)
    try:
        yield
    except DatabaseError as error:
        if not is_recovery_conflict(error):
            raise
        raise ReplicaConflict from error
    finally:
        _reading_reports.reset(token)


@contextmanager
def one_snapshot() -> Iterator[None]:
    """Within: a report's statements read one snapshot of the database they read (a
    REPEATABLE READ, READ ONLY transaction; a hot standby takes it too), so numbers one
    statement counts and another corrects cannot miss a row committed between them. Inside
    a transaction already (a caller's, a test's), its own isolation stays."""
    alias = report_database()
    if connections[alias].in_atomic_block:
        yield
        return
    with transaction.atomic(using=alias):
        with connections[alias].cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


@contextmanager
def primary_reads() -> Iterator[None]:
    """Within: every read on the primary, even inside report_reads() and in the reports'
    selectors called from here (the claim engine; the background computations, whose
    minutes-long queries a replica would cancel to go on replaying)."""
    token = _reading_reports.set(False)
    try:
        yield
    finally:
        _reading_reports.reset(token)


def reads_replica(selector: Callable) -> Callable:
    """Decorate a report's selector: it runs inside report_reads()."""

    @wraps(selector)
    def reading(*args, **kwargs):
        with report_reads():
            return selector(*args, **kwargs)

    return reading


def reads_primary(service: Callable) -> Callable:
    """Decorate a service that must read the primary (the claim engine's entries read what
    they write; a background computation runs for minutes): it and the selectors it calls
    read the primary, whoever calls it."""

    @wraps(service)
    def reading(*args, **kwargs):
        with primary_reads():
            return service(*args, **kwargs)

    return reading


class ReplicaRouter:
    """DATABASE_ROUTERS: report reads to the replica, all else to the primary; migrations
    run on the primary only (a replica replays them)."""

    def db_for_read(self, model, **hints) -> str | None:
        return report_database()

    def db_for_write(self, model, **hints) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, first, second, **hints) -> bool:
        # One database, twice: a replica's rows are the primary's.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool:
        return db == DEFAULT_DB_ALIAS
