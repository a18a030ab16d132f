"""Writes of segments: create, change, duplicate, delete, upload a snapshot, refresh, preview.

Every rule tree is validated by segments.rules (RuleError carries the node's path) and
stored in canonical form; every change writes an AuditEntry (SPEC §7). Writes of rules take
one transaction-level lock (`_lock_rule_writes`) so that two concurrent edits can never
make an in_segment cycle that neither saw, nor delete a segment another one just started
to reference.

A refresh runs the segment's compiled query once, server-side, into a temporary table of
member ids, then materialises it into SegmentMember in batches of ids, each batch its own
transaction so the page polling the Job sees progress. It is safe to run twice at
once: a PostgreSQL advisory lock per segment makes the second run WAIT for the first and
then run itself, so the run that finishes last wrote the members of the newest rules.
"""

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import DatabaseError, OperationalError, connection, router, transaction
from django.db.models import QuerySet
from django.db.models.deletion import Collector, ProtectedError
from psycopg import errors as pg_errors

from crm.core.api import DomainRefusal
from crm.core.jobs import (
    MAX_REPORTED_ERRORS,
    create_job,
    fail_job,
    finish_job,
    record_job_progress,
    start_job,
)
from crm.core.models import AuditEntry, Job
from crm.models import Customer
from segments import selectors, tasks
from segments.describe import describe_rule_tree
from segments.enums import SegmentKind
from segments.models import Segment, SegmentMember, SegmentSizeSnapshot
from segments.rules import RuleError, canonical_rules, parse_rule_tree

# Members written per refresh batch (one transaction each: stale members of the batch's
# id range deleted, INSERT ... SELECT ... ON CONFLICT DO NOTHING from the staged ids,
# progress). Measured with `python -m bench.bench_segments --only none
# [--refresh-batch-size N]` (1M customers, PostgreSQL 15, 2 shared cores), 1,000,000
# members into an empty list, median: 10,000 per batch 42.6 s (one INSERT ... SELECT of
# the same members 34.3 s), 100,000 per batch 41.9 s (35.5 s). The size hardly matters:
# about two thirds of the time is the foreign-key checks run at each commit, the same in
# one statement. So batches stay small enough for the progress bar to move every ~0.4 s.
REFRESH_BATCH_SIZE = 10_000
# The refresh's temporary table of the members its rules select (one per connection), and
# the schema each database keeps temporary tables in.
STAGED_MEMBERS = "segment_refresh_members"
TEMPORARY_SCHEMAS = {"postgresql": "pg_temp", "sqlite": "temp"}
# Customer ids looked up and stored per batch of an uploaded list (~30 ms per batch).
UPLOAD_BATCH_SIZE = 10_000
# Advisory lock namespace (first key) of segment refreshes; the second key is the segment.
REFRESH_LOCK_NAMESPACE = 0x5E6
# Advisory lock key of rule writes (create, change, delete of segments).
RULE_WRITES_LOCK_KEY = (0x5E6, -1)
WAITING_MESSAGE = "Waiting for another refresh of this segment to finish."
# A preview slower than this is stopped on the database; the builder counts again at the
# next edit. Every reference rule counts in < 5 s on 1M customers (bench_segments.py).
PREVIEW_TIMEOUT_MS = 20_000
PREVIEW_APPLICATION_PREFIX = "opscrm-preview"
# PostgreSQL settings of the heavy segment queries (preview counts, the refresh's member
# query), SET LOCAL for their transaction only. Measured with bench/bench_segments.py on
# 1M customers / 10M orders, the 3-level nested rule: 4.3 s at the database's defaults,
# 2.2 s with these. JIT compilation alone took 1.3 s of it (these plans are scans, hashes
# and aggregates, which JIT barely speeds up), and with 4 MB of work_mem each per-customer
# GROUP BY ran as an index scan over every order in customer order instead of an
# in-memory hash aggregate. 32 MB holds the ~200k groups per parallel worker of 1M
# customers.
SEGMENT_QUERY_SETTINGS = {"jit": "off", "work_mem": "32MB"}
COPY_PREFIX = "Copy of "
NAME_MAX_LENGTH = Segment._meta.get_field("name").max_length


class SegmentInUse(DomainRefusal):
    """A segment that campaigns or other segments' rules still use cannot be deleted."""

    def __init__(self, detail: str) -> None:
        super().__init__("segment_in_use", detail)


class SnapshotUploadRefused(DomainRefusal):
    """An uploaded customer-id list that stores nobody (empty, unreadable, all unknown)."""


class PreviewStopped(DomainRefusal):
    """A preview stopped on the database: superseded by a newer edit, or too slow."""


@dataclass(frozen=True)
class CustomerIdLine:
    """One customer id of an uploaded list and where it was (file line or list position)."""

    line: int
    customer_id: str


@dataclass(frozen=True)
class SnapshotUpload:
    """What an upload stored: the new snapshot segment and the lines it refused."""

    segment: Segment
    stored: int
    duplicates: int
    unknown_count: int
    # The first MAX_REPORTED_ERRORS refused lines: {"line", "customer_id", "reason"}.
    unknown: list[dict[str, Any]] = field(default_factory=list)


# Create, change, duplicate, delete --------------------------------------------------------


@transaction.atomic
def create_segment(
    *,
    name: str,
    rules: Mapping[str, Any],
    kind: str = SegmentKind.DYNAMIC,
    description: str = "",
    actor: AbstractBaseUser | None,
    now: datetime,
) -> Segment:
    """Create a segment from a SPEC §2 rule tree and start its first refresh.

    Raises RuleError (with the node's path) for rules the catalogue refuses and
    ValidationError for a bad name or kind; nothing is stored then. The rules are stored
    in canonical form. The refresh (a snapshot: freezing its members) is enqueued when the
    transaction commits.
    """
    _lock_rule_writes()
    segment = Segment(
        name=name.strip(),
        description=description.strip(),
        kind=kind,
        rules=canonical_rules(rules),
        created_by=_user_or_none(actor),
        updated_by=_user_or_none(actor),
    )
    segment.full_clean()
    segment.save()
    _audit(
        actor=actor,
        now=now,
        action="segment.create",
        segment=segment,
        changes={name: [None, getattr(segment, name)] for name in ("name", "kind", "rules")},
    )
    start_segment_refresh(segment=segment, actor=actor, now=now)
    return segment


@transaction.atomic
def update_segment(
    *,
    segment: Segment,
    name: str | None = None,
    description: str | None = None,
    rules: Mapping[str, Any] | None = None,
    kind: str | None = None,
    actor: AbstractBaseUser | None,
    now: datetime,
) -> Segment:
    """Change what is given (None: unchanged) and audit what changed.

    Locks the segment's row. Raises RuleError for rules the catalogue refuses (including an
    in_segment cycle back to this segment) and ValidationError for a bad name or kind, or
    for a dynamic segment without rules; nothing changes then. When the rules or the kind
    change, a refresh is enqueued on commit (a snapshot freezes its new members). A change
    that changes nothing writes nothing.
    """
    _lock_rule_writes()
    segment = _lock_segment(segment.pk)
    before = {key: getattr(segment, key) for key in ("name", "description", "kind", "rules")}
    if name is not None:
        segment.name = name.strip()
    if description is not None:
        segment.description = description.strip()
    if kind is not None:
        segment.kind = kind
    if rules is not None:
        segment.rules = canonical_rules(rules, segment_id=segment.pk)
    if segment.kind == SegmentKind.DYNAMIC and not segment.rules:
        raise ValidationError(
            {"kind": "An uploaded list has no rules, so it can only be a snapshot."}
        )
    changed = [key for key, value in before.items() if getattr(segment, key) != value]
    if not changed:
        return segment
    segment.updated_by = _user_or_none(actor)
    segment.full_clean()
    segment.save(update_fields=[*changed, "updated_by", "updated_at"])
    _audit(
        actor=actor,
        now=now,
        action="segment.update",
        segment=segment,
        changes={key: [before[key], getattr(segment, key)] for key in changed},
    )
    if "rules" in changed or "kind" in changed:
        start_segment_refresh(segment=segment, actor=actor, now=now)
    return segment


@transaction.atomic
def duplicate_segment(
    *, segment: Segment, name: str | None = None, actor: AbstractBaseUser | None, now: datetime
) -> Segment:
    """A new segment with the same rules and kind ("Copy of <name>" unless named).

    A snapshot's frozen members are copied as they are (one INSERT ... SELECT); a dynamic
    copy gets its first refresh on commit. Raises RuleError when the original's rules no
    longer validate (e.g. a segment they referenced was deleted).
    """
    _lock_rule_writes()
    original = _lock_segment(segment.pk)
    copy = Segment(
        name=(name or f"{COPY_PREFIX}{original.name}")[:NAME_MAX_LENGTH].strip(),
        description=original.description,
        kind=original.kind,
        rules=canonical_rules(original.rules) if original.rules else {},
        created_by=_user_or_none(actor),
        updated_by=_user_or_none(actor),
    )
    copy.full_clean()
    copy.save()
    _audit(
        actor=actor,
        now=now,
        action="segment.duplicate",
        segment=copy,
        changes={"duplicate_of": [None, original.pk], "name": [None, copy.name]},
    )
    if original.kind == SegmentKind.SNAPSHOT:
        copied = _copy_members(source_id=original.pk, target_id=copy.pk, now=now)
        _record_size(segment_id=copy.pk, size=copied, at=now)
    else:
        start_segment_refresh(segment=copy, actor=actor, now=now)
    copy.refresh_from_db()
    return copy


@transaction.atomic
def delete_segment(*, segment: Segment, actor: AbstractBaseUser | None, now: datetime) -> None:
    """Delete a segment with its members and size history, and audit it.

    Refused with SegmentInUse, naming them, while campaigns use it as their audience or
    other segments' rules name it in in_segment; nothing is deleted then. Locks the row
    first, so no campaign can start using it meanwhile.
    """
    _lock_rule_writes()
    segment = _lock_segment(segment.pk)
    users = [f'segment "{other.name}"' for other in selectors.segments_referencing(segment=segment)]
    collector = Collector(using=router.db_for_write(Segment))
    try:
        collector.collect([segment])
    except ProtectedError as protected:
        users += sorted(
            f"{blocker._meta.verbose_name} {blocker}" for blocker in protected.protected_objects
        )
    if users:
        raise SegmentInUse(
            f'Segment "{segment.name}" is used by {", ".join(users)}; remove it from there first.'
        )
    segment_id, segment_name = segment.pk, segment.name
    segment.delete()
    AuditEntry.objects.create(
        at=now,
        actor=_user_or_none(actor),
        action="segment.delete",
        object_type="segment",
        object_id=str(segment_id),
        changes={"name": [segment_name, None]},
    )


# Snapshot upload --------------------------------------------------------------------------


def read_customer_id_file(file: IO[bytes]) -> list[CustomerIdLine]:
    """The customer ids of an uploaded CSV, with their line numbers.

    Either one id per line (a first line `customer_id` is a header), or several columns
    with a header row that has a `customer_id` column. Blank lines are skipped. Raises
    SnapshotUploadRefused for a file that is not UTF-8 text or has no customer_id column.
    """
    try:
        text = file.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SnapshotUploadRefused(
            "unreadable_file", "The file is not UTF-8 text; save it as CSV (UTF-8)."
        ) from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0]]
    if "customer_id" in header:
        column, numbered = header.index("customer_id"), enumerate(rows[1:], start=2)
    elif len(header) > 1:
        raise SnapshotUploadRefused(
            "no_customer_id_column",
            "The file has several columns but none is named customer_id in its first line.",
        )
    else:
        column, numbered = 0, enumerate(rows, start=1)
    lines = []
    for number, row in numbered:
        value = row[column].strip() if len(row) > column else ""
        if value:
            lines.append(CustomerIdLine(line=number, customer_id=value))
    return lines


def customer_id_lines(customer_ids: Sequence[str]) -> list[CustomerIdLine]:
    """A list of ids from the API, numbered by position (1 = the first)."""
    return [
        CustomerIdLine(line=number, customer_id=str(value).strip())
        for number, value in enumerate(customer_ids, start=1)
        if str(value).strip()
    ]


@transaction.atomic
def upload_snapshot(
    *,
    name: str,
    lines: Sequence[CustomerIdLine],
    description: str = "",
    actor: AbstractBaseUser | None,
    now: datetime,
) -> SnapshotUpload:
    """Create a snapshot segment of the known customers among `lines` (the "manually
    tagged group" of SPEC §2).

    Every unknown id is reported with its line and the known ones are stored (a repeated
    id once). Refused with SnapshotUploadRefused when no line names a known customer;
    nothing is stored then. One transaction: the segment appears with all its members.
    """
    if not lines:
        raise SnapshotUploadRefused("empty_upload", "The list has no customer ids.")
    first_line: dict[str, int] = {}
    for line in lines:
        first_line.setdefault(line.customer_id, line.line)
    known: dict[str, int] = {}
    wanted = list(first_line)
    for start in range(0, len(wanted), UPLOAD_BATCH_SIZE):
        known.update(
            Customer.objects.filter(customer_id__in=wanted[start : start + UPLOAD_BATCH_SIZE])
            .values_list("customer_id", "pk")
            .iterator()
        )
    unknown = [line for line in lines if line.customer_id not in known]
    if not known:
        raise SnapshotUploadRefused(
            "no_known_customers",
            f"None of the {len(lines):,} customer ids is a known customer "
            f'(line {unknown[0].line}: "{unknown[0].customer_id}").',
        )
    segment = Segment(
        name=name.strip(),
        description=description.strip(),
        kind=SegmentKind.SNAPSHOT,
        rules={},
        created_by=_user_or_none(actor),
        updated_by=_user_or_none(actor),
    )
    segment.full_clean()
    segment.save()
    member_ids = sorted(known.values())
    for start in range(0, len(member_ids), UPLOAD_BATCH_SIZE):
        _add_members(
            segment_id=segment.pk,
            customer_ids=member_ids[start : start + UPLOAD_BATCH_SIZE],
            now=now,
        )
    _record_size(segment_id=segment.pk, size=len(member_ids), at=now)
    _audit(
        actor=actor,
        now=now,
        action="segment.upload",
        segment=segment,
        changes={
            "name": [None, segment.name],
            "kind": [None, SegmentKind.SNAPSHOT.value],
            "members": [None, len(member_ids)],
            "unknown_ids": [None, len(unknown)],
        },
    )
    segment.refresh_from_db()
    return SnapshotUpload(
        segment=segment,
        stored=len(member_ids),
        duplicates=len(lines) - len(first_line),
        unknown_count=len(unknown),
        unknown=[
            {
                "line": line.line,
                "customer_id": line.customer_id,
                "reason": f'unknown customer id "{line.customer_id}"',
            }
            for line in unknown[:MAX_REPORTED_ERRORS]
        ],
    )


# Refresh ----------------------------------------------------------------------------------


@transaction.atomic
def start_segment_refresh(
    *, segment: Segment, actor: AbstractBaseUser | None, now: datetime
) -> Job:
    """Create a pending refresh Job and enqueue the refresh when the transaction commits."""
    job = create_job(
        kind=selectors.REFRESH_JOB_KIND,
        label=selectors.refresh_job_label(segment),
        created_by=_user_or_none(actor),
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


def _materialise_members(segment: Segment, *, job: Job, now: datetime) -> int:
    members = selectors.segment_rule_members(segment=segment, as_of=now, as_of_is_now=True)
    table, staged = SegmentMember._meta.db_table, _staged_table()
    added_at = connection.ops.adapt_datetimefield_value(now)
    with _staged_members(members) as batch_ends:
        total = batch_ends.total
        Job.objects.filter(pk=job.pk).update(total=total)
        previous: int | None = None
        for number, up_to in enumerate(batch_ends.ends):
            in_batch, params = _id_range(after=previous, up_to=up_to)
            with transaction.atomic(), connection.cursor() as cursor:
                _lock_segment_for_members(segment.pk)
                # Stale members of the batch's id range: no longer selected. NOT IN over the
                # batch's ids (hashed once) rather than an anti-join probing the temporary
                # table's index for every member.
                cursor.execute(
                    f"DELETE FROM {table} WHERE segment_id = %s AND {in_batch} AND customer_id "
                    f"NOT IN (SELECT customer_id FROM {staged} WHERE {in_batch})",
                    [segment.pk, *params, *params],
                )
                # New members, keeping the ones already there (and their added_at).
                cursor.execute(
                    f"INSERT INTO {table} (segment_id, customer_id, added_at) "
                    f"SELECT %s, customer_id, %s FROM {staged} WHERE {in_batch} "
                    "ON CONFLICT (segment_id, customer_id) DO NOTHING",
                    [segment.pk, added_at, *params],
                )
                # In the batch's transaction: one commit (one fsync) per batch, and the
                # progress a page reads is always what is committed.
                done = number * REFRESH_BATCH_SIZE
                record_job_progress(job=job, done=min(REFRESH_BATCH_SIZE, total - done))
            previous = up_to
    with transaction.atomic():
        _lock_segment_for_members(segment.pk)
        _remove_members(segment_id=segment.pk, after=previous, up_to=None, keep=())
        _record_size(segment_id=segment.pk, size=total, at=now)
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
    staged = _staged_table()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            apply_segment_query_settings()
            cursor.execute(f"DROP TABLE IF EXISTS {staged}")
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
            cursor.execute(f"ANALYZE {staged}")
            # Every batch's last id in one pass (finding each batch's end with its own
            # ORDER BY ... LIMIT read 10,000 heap rows a batch: 40 ms, 4 s for 1M members).
            cursor.execute(
                f"SELECT customer_id, position FROM (SELECT customer_id, "
                f"row_number() OVER (ORDER BY customer_id) AS position FROM {staged}) numbered "
                f"WHERE position %% %s = 0 OR position = (SELECT count(*) FROM {staged}) "
                "ORDER BY position",
                [REFRESH_BATCH_SIZE],
            )
            rows = cursor.fetchall()
        yield _BatchEnds(total=rows[-1][1] if rows else 0, ends=[row[0] for row in rows])
    finally:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {staged}")


def _staged_table() -> str:
    return f"{TEMPORARY_SCHEMAS[connection.vendor]}.{STAGED_MEMBERS}"


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
        _lock_segment_for_members(segment.pk)
        size = SegmentMember.objects.filter(segment_id=segment.pk).count()
        Job.objects.filter(pk=job.pk).update(total=size)
        record_job_progress(job=job, done=size)
        _record_size(segment_id=segment.pk, size=size, at=now)
    return size


def _add_members(*, segment_id: int, customer_ids: Sequence[int], now: datetime) -> None:
    """Add members, keeping the ones already there (and their added_at)."""
    if connection.vendor == "postgresql":
        # One statement from an array: 0.21 s for 10,000 members on the benchmark database
        # against 0.33-0.39 s through bulk_create (model objects, 30,000 parameters).
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {SegmentMember._meta.db_table} (segment_id, customer_id, added_at) "
                "SELECT %s, member, %s FROM unnest(%s::bigint[]) AS member "
                "ON CONFLICT (segment_id, customer_id) DO NOTHING",
                [segment_id, now, list(customer_ids)],
            )
        return
    SegmentMember.objects.bulk_create(
        [
            SegmentMember(segment_id=segment_id, customer_id=customer_id, added_at=now)
            for customer_id in customer_ids
        ],
        ignore_conflicts=True,
    )


def _remove_members(
    *, segment_id: int, after: int | None, up_to: int | None, keep: Sequence[int]
) -> None:
    """Remove the members with customer ids in (after, up_to] that are not in `keep`."""
    stale = SegmentMember.objects.filter(segment_id=segment_id)
    if after is not None:
        stale = stale.filter(customer_id__gt=after)
    if up_to is not None:
        stale = stale.filter(customer_id__lte=up_to)
    if keep:
        stale = stale.exclude(customer_id__in=keep)
    stale.delete()


def _copy_members(*, source_id: int, target_id: int, now: datetime) -> int:
    table = SegmentMember._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (segment_id, customer_id, added_at) "
            f"SELECT %s, customer_id, %s FROM {table} WHERE segment_id = %s",
            [target_id, now, source_id],
        )
        return cursor.rowcount


def _record_size(*, segment_id: int, size: int, at: datetime) -> None:
    SegmentSizeSnapshot.objects.update_or_create(
        segment_id=segment_id, at=at, defaults={"size": size}
    )
    Segment.objects.filter(pk=segment_id).update(member_count=size, last_refreshed_at=at)


# Preview ----------------------------------------------------------------------------------


def preview_segment_rules(
    *,
    rules: Mapping[str, Any],
    as_of: datetime,
    as_of_is_now: bool,
    segment: Segment | None = None,
    viewer_id: int | None = None,
    builder_session: str = "",
    sample_size: int = selectors.DEFAULT_SAMPLE_SIZE,
) -> dict[str, Any]:
    """Count, total, sample and sentence of the customers matching `rules` at `as_of`.

    Writes nothing. On PostgreSQL the counting stops after PREVIEW_TIMEOUT_MS, and a
    preview from a builder session (`builder_session`, per viewer) first cancels, with
    pg_cancel_backend, the previous preview of that same session still running on the
    database: an edit supersedes it. The superseded or too slow preview raises
    PreviewStopped. Raises RuleError for invalid rules (`segment` is the segment being
    edited, so a reference back to it is refused as a cycle).
    """
    node = parse_rule_tree(rules, segment_id=segment.pk if segment else None)
    if connection.vendor != "postgresql":
        preview = selectors.segment_preview(
            rules=rules,
            as_of=as_of,
            as_of_is_now=as_of_is_now,
            segment=segment,
            sample_size=sample_size,
        )
        return {**preview, "description": describe_rule_tree(node)}
    tag = _preview_tag(viewer_id, builder_session) if builder_session else ""
    if tag:
        _cancel_running_previews(tag)
    try:
        with transaction.atomic():
            # Local settings end with this transaction, so a pooled connection never keeps
            # the tag (and is never cancelled as this session's preview later).
            tagged = {"application_name": tag} if tag else {}
            apply_segment_query_settings(statement_timeout=str(PREVIEW_TIMEOUT_MS), **tagged)
            preview = selectors.segment_preview(
                rules=rules,
                as_of=as_of,
                as_of_is_now=as_of_is_now,
                segment=segment,
                sample_size=sample_size,
            )
    except OperationalError as error:
        if not isinstance(error.__cause__, pg_errors.QueryCanceled):
            raise
        if "statement timeout" in str(error.__cause__):
            raise PreviewStopped(
                "preview_timeout",
                f"Counting took longer than {PREVIEW_TIMEOUT_MS / 1000:g} s and was stopped.",
            ) from None
        raise PreviewStopped(
            "preview_superseded", "A newer preview from the same builder replaced this one."
        ) from None
    return {**preview, "description": describe_rule_tree(node)}


def apply_segment_query_settings(**extra: str) -> None:
    """SET LOCAL the SEGMENT_QUERY_SETTINGS (and `extra`) until the current transaction
    ends; PostgreSQL only. Call inside transaction.atomic()."""
    if connection.vendor != "postgresql":
        return
    settings = {**SEGMENT_QUERY_SETTINGS, **extra}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join("set_config(%s, %s, true)" for _ in settings),
            [item for pair in settings.items() for item in pair],
        )


def _preview_tag(viewer_id: int | None, builder_session: str) -> str:
    # PostgreSQL keeps 63 bytes of application_name; the session token is at most 32.
    return f"{PREVIEW_APPLICATION_PREFIX}:{viewer_id or 0}:{builder_session}"[:63]


def _cancel_running_previews(tag: str) -> None:
    """Cancel the queries of other connections running a preview with this tag.

    A connection whose preview finished has lost the tag (SET LOCAL), so only a preview
    still counting is cancelled.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND datname = current_database() "
            "AND pid <> pg_backend_pid()",
            [tag],
        )


# Locks and audit --------------------------------------------------------------------------


def _lock_rule_writes() -> None:
    """Serialise writes of segment rules until the transaction ends (PostgreSQL; SQLite,
    the demo's database, serialises every writer anyway)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", list(RULE_WRITES_LOCK_KEY))


def _lock_segment(segment_id: int) -> Segment:
    """Lock the segment's row for a change (raises Segment.DoesNotExist)."""
    return Segment.objects.select_for_update().get(pk=segment_id)


def _lock_segment_for_members(segment_id: int) -> None:
    """Keep the segment from being deleted while a batch writes its members (FOR NO KEY
    UPDATE: a campaign may still reference it meanwhile). Raises Segment.DoesNotExist."""
    Segment.objects.select_for_update(no_key=True).only("pk").get(pk=segment_id)


@contextmanager
def _refresh_lock(segment_id: int, *, job: Job) -> Iterator[None]:
    """Hold the segment's refresh lock (a session-level advisory lock, released when the
    block ends or the connection dies); wait for it, saying so on the Job, if another
    refresh of the segment holds it. SQLite (the demo, tasks inline) needs none."""
    if connection.vendor != "postgresql":
        yield
        return
    # Advisory keys are 32-bit; two segments sharing a key would only wait for each other.
    key = [REFRESH_LOCK_NAMESPACE, segment_id & 0x7FFFFFFF]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        if not cursor.fetchone()[0]:
            Job.objects.filter(pk=job.pk).update(message=WAITING_MESSAGE)
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", key)
            Job.objects.filter(pk=job.pk).update(message="")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)


def _audit(
    *,
    actor: AbstractBaseUser | None,
    now: datetime,
    action: str,
    segment: Segment,
    changes: dict[str, list],
) -> None:
    AuditEntry.objects.create(
        at=now,
        actor=_user_or_none(actor),
        action=action,
        object_type="segment",
        object_id=str(segment.pk),
        changes=changes,
    )


def _user_or_none(actor: AbstractBaseUser | None) -> AbstractBaseUser | None:
    return actor if actor is not None and actor.is_authenticated else None
