"""Refresh of a segment: materialise the members its rules select into SegmentMember and
record its size (SegmentSizeSnapshot, member_count, last_refreshed_at).

A refresh runs the segment's compiled query once, server-side, into a temporary table of
member ids, then materialises it into SegmentMember in batches of ids, each batch its own
transaction so the page polling the Job sees progress. It is safe to run twice at
once: a PostgreSQL advisory lock per segment makes the second run WAIT for the first and
then run itself, so the run that finishes last wrote the members of the newest rules.
Refreshes run in Celery (segments.tasks), enqueued when the starting transaction commits.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, connection, transaction
from django.db.models import QuerySet

from crm.core.jobs import create_job, fail_job, finish_job, record_job_progress, start_job
from crm.core.models import Job
from crm.models import Customer
from segments import locks, selectors, tasks
from segments.enums import SegmentKind
from segments.models import Segment, SegmentMember, SegmentSizeSnapshot
from segments.rules import RuleError
from segments.services.audit import acting_user
from segments.services.query_settings import apply_segment_query_settings

# Members written per refresh batch (one transaction each: stale members of the batch's
# id range deleted, INSERT ... SELECT ... ON CONFLICT DO NOTHING from the staged ids,
# progress). Measured with `python -m bench.bench_segments --only none
# [--refresh-batch-size N]` (1M customers, PostgreSQL 15, 2 shared cores), 1,000,000
# members into an empty list, median: 10,000 per batch 42.6 s (one INSERT ... SELECT of
# the same members 34.3 s), 100,000 per batch 41.9 s (35.5 s). The size hardly matters:
# about two thirds of the time is the foreign-key checks run at each commit, the same in
# one statement. So batches stay small enough for the progress bar to move every ~0.4 s.
REFRESH_BATCH_SIZE = 10_000
# The refresh's temporary table of the members its rules select (one per connection).
# Named through pg_temp, this connection's own temporary schema, wherever it is read or
# dropped: unqualified, DROP TABLE IF EXISTS would drop a permanent table of that name
# when no temporary one exists.
STAGED_MEMBERS = "segment_refresh_members"
STAGED_TABLE = f"pg_temp.{STAGED_MEMBERS}"
WAITING_MESSAGE = "Waiting for another refresh of this segment to finish."


@transaction.atomic
def start_segment_refresh(
    *, segment: Segment, actor: AbstractBaseUser | None, now: datetime
) -> Job:
    """Create a pending refresh Job and enqueue the refresh when the transaction commits."""
    job = create_job(
        kind=selectors.REFRESH_JOB_KIND,
        label=selectors.refresh_job_label(segment),
        created_by=acting_user(actor),
    )
    segment_id, job_id = segment.pk, job.pk
    transaction.on_commit(lambda: tasks.refresh_segment_task.delay(segment_id, job_id))
    return job


def start_dynamic_segment_refreshes(*, now: datetime) -> list[Job]:
    """Start a refresh of every dynamic segment (the nightly size history point)."""
    with transaction.atomic():
        return [
            start_segment_refresh(segment=segment, actor=None, now=now)
            for segment in Segment.objects.filter(kind=SegmentKind.DYNAMIC).order_by("pk")
        ]


def refresh_segment(*, segment_id: int, job_id: int, now: datetime) -> None:
    """Materialise the segment's members at `now` into SegmentMember and record its size.

    Dynamic segments and snapshots with rules store exactly the customers their rules
    select at `now` (a snapshot is re-frozen); an uploaded list keeps its members and only
    its size is recorded. Adds a SegmentSizeSnapshot row and sets member_count and
    last_refreshed_at. Progress goes to the Job.

    Not one transaction: the members are selected once (into a temporary table), then
    written in batches of REFRESH_BATCH_SIZE in customer order, each batch its own
    transaction (stale members of the batch's id range removed,
    new ones added), so a reader sees every customer either in the old or in the new
    membership. Safe to run twice at once: the second run waits on the segment's advisory
    lock (the Job says so), then runs. A job that already finished is not run again (a
    redelivered task). If the segment was deleted, or its rules no longer validate, the
    Job fails with the reason.
    """
    job = Job.objects.get(pk=job_id)
    if job.is_finished:
        return
    with _refresh_lock(segment_id, job=job):
        segment = Segment.objects.filter(pk=segment_id).first()
        if segment is None:
            fail_job(job=job, now=now, message="The segment was deleted before it was refreshed.")
            return
        start_job(job=job, now=now)
        try:
            if segment.rules:
                size = _materialise_members(segment, job=job, now=now)
            else:
                size = _count_uploaded_members(segment, job=job, now=now)
        except RuleError as error:
            fail_job(job=job, now=now, message=f"The rules no longer validate: {error}")
            return
        except Segment.DoesNotExist:
            fail_job(job=job, now=now, message="The segment was deleted during its refresh.")
            return
        except DatabaseError as error:
            # The first line only: a database error's DETAIL may quote a row.
            first_line = (str(error).splitlines() or [type(error).__name__])[0]
            fail_job(job=job, now=now, message=f"The refresh stopped: {first_line}")
            raise
    finish_job(job=job, now=now, message=f"{size:,} member{'s' if size != 1 else ''}.")


def record_segment_size(*, segment_id: int, size: int, at: datetime) -> None:
    """Add the size history point `size` at `at` (replacing one at the same instant) and
    set the segment's member_count and last_refreshed_at to it."""
    SegmentSizeSnapshot.objects.update_or_create(
        segment_id=segment_id, at=at, defaults={"size": size}
    )
    Segment.objects.filter(pk=segment_id).update(member_count=size, last_refreshed_at=at)


def _materialise_members(segment: Segment, *, job: Job, now: datetime) -> int:
    members = selectors.segment_rule_members(segment=segment, as_of=now, as_of_is_now=True)
    table = SegmentMember._meta.db_table
    added_at = connection.ops.adapt_datetimefield_value(now)
    with _staged_members(members) as batch_ends:
        total = batch_ends.total
        Job.objects.filter(pk=job.pk).update(total=total)
        previous: int | None = None
        for number, up_to in enumerate(batch_ends.ends):
            in_batch, params = _id_range(after=previous, up_to=up_to)
            with transaction.atomic(), connection.cursor() as cursor:
                locks.lock_segment_for_members(segment.pk)
                # Stale members of the batch's id range: no longer selected. NOT IN over the
                # batch's ids (hashed once) rather than an anti-join probing the temporary
                # table's index for every member.
                cursor.execute(
                    f"DELETE FROM {table} WHERE segment_id = %s AND {in_batch} AND customer_id "
                    f"NOT IN (SELECT customer_id FROM {STAGED_TABLE} WHERE {in_batch})",
                    [segment.pk, *params, *params],
                )
                # New members, keeping the ones already there (and their added_at).
                cursor.execute(
                    f"INSERT INTO {table} (segment_id, customer_id, added_at) "
                    f"SELECT %s, customer_id, %s FROM {STAGED_TABLE} WHERE {in_batch} "
                    "ON CONFLICT (segment_id, customer_id) DO NOTHING",
                    [segment.pk, added_at, *params],
                )
                # In the batch's transaction: one commit (one fsync) per batch, and the
                # progress a page reads is always what is committed.
                done = number * REFRESH_BATCH_SIZE
                record_job_progress(job=job, done=min(REFRESH_BATCH_SIZE, total - done))
            previous = up_to
    with transaction.atomic():
        locks.lock_segment_for_members(segment.pk)
        _remove_members(segment_id=segment.pk, after=previous)
        record_segment_size(segment_id=segment.pk, size=total, at=now)
    return total


@dataclass(frozen=True)
class _BatchEnds:
    """How many members were staged, and the last customer id of each batch of them."""

    total: int
    ends: list[int]


@contextmanager
def _staged_members(members: QuerySet[Customer]) -> Iterator[_BatchEnds]:
    """Run the members' query once, into a temporary table of their ids in id order.

    Server-side: CREATE TEMPORARY TABLE ... AS SELECT keeps the ids out of Python and may
    use a parallel plan (a streamed cursor or INSERT ... SELECT never does on PostgreSQL
    15); in id order, each batch's ids lie together. The table lives in this connection's
    session, which the refresh keeps anyway for its advisory lock, and is dropped at the
    end, also when the refresh fails.
    """
    sql, params = members.order_by().values("pk").query.sql_with_params()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            apply_segment_query_settings()
            cursor.execute(f"DROP TABLE IF EXISTS {STAGED_TABLE}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {STAGED_MEMBERS} AS "
                f"SELECT pk AS customer_id FROM ({sql}) members ORDER BY pk",
                params,
            )
            # Each batch reads its id range through this index.
            cursor.execute(
                f"CREATE UNIQUE INDEX {STAGED_MEMBERS}_customer ON {STAGED_MEMBERS} (customer_id)"
            )
            # Autovacuum never analyzes temporary tables; without statistics the planner
            # guessed a few rows and chose nested loops.
            cursor.execute(f"ANALYZE {STAGED_TABLE}")
            # Every batch's last id in one pass (finding each batch's end with its own
            # ORDER BY ... LIMIT read 10,000 heap rows a batch: 40 ms, 4 s for 1M members).
            cursor.execute(
                f"SELECT customer_id, position FROM (SELECT customer_id, "
                f"row_number() OVER (ORDER BY customer_id) AS position FROM {STAGED_TABLE}) "
                "numbered WHERE position %% %s = 0 OR position = "
                f"(SELECT count(*) FROM {STAGED_TABLE}) ORDER BY position",
                [REFRESH_BATCH_SIZE],
            )
            rows = cursor.fetchall()
        yield _BatchEnds(total=rows[-1][1] if rows else 0, ends=[row[0] for row in rows])
    finally:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {STAGED_TABLE}")


def _id_range(*, after: int | None, up_to: int | None) -> tuple[str, list[int]]:
    """SQL keeping `customer_id` in (after, up_to] (None: unbounded), and its parameters."""
    parts, params = ["1 = 1"], []
    if after is not None:
        parts.append("customer_id > %s")
        params.append(after)
    if up_to is not None:
        parts.append("customer_id <= %s")
        params.append(up_to)
    return " AND ".join(parts), params


def _count_uploaded_members(segment: Segment, *, job: Job, now: datetime) -> int:
    with transaction.atomic():
        locks.lock_segment_for_members(segment.pk)
        size = SegmentMember.objects.filter(segment_id=segment.pk).count()
        Job.objects.filter(pk=job.pk).update(total=size)
        record_job_progress(job=job, done=size)
        record_segment_size(segment_id=segment.pk, size=size, at=now)
    return size


def _remove_members(*, segment_id: int, after: int | None) -> None:
    """Remove the members with customer ids above `after` (None: every member)."""
    stale = SegmentMember.objects.filter(segment_id=segment_id)
    if after is not None:
        stale = stale.filter(customer_id__gt=after)
    stale.delete()


@contextmanager
def _refresh_lock(segment_id: int, *, job: Job) -> Iterator[None]:
    """Hold the segment's refresh lock (released when the block ends or the connection
    dies); wait for it, saying so on the Job, if another refresh of the segment holds it."""
    if not locks.try_lock_refresh(segment_id):
        Job.objects.filter(pk=job.pk).update(message=WAITING_MESSAGE)
        locks.lock_refresh(segment_id)
        Job.objects.filter(pk=job.pk).update(message="")
    try:
        yield
    finally:
        locks.unlock_refresh(segment_id)
