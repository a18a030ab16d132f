"""Writes of segment definitions: create, change, duplicate and delete a segment.

Every rule tree is validated by segments.rules (RuleError carries the node's path) and
stored in canonical form; every change writes an AuditEntry (SPEC §7). Writes of rules take
one transaction-level lock (locks.lock_rule_writes) so that two concurrent edits can never
make an in_segment cycle that neither saw, nor delete a segment another one just started
to reference. A change of what a segment selects starts its refresh
(segments.services.refresh) when the transaction commits. Every write of a definition is
stamped by the database (_stamp_change), which versions segments for the claim engine.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, router, transaction
from django.db.models.deletion import Collector, ProtectedError

from crm.core.models import AuditEntry
from segments import locks, selectors
from segments.enums import SegmentKind
from segments.exceptions import SegmentInUse
from segments.models import Segment, SegmentMember
from segments.rules import canonical_rules
from segments.services.audit import acting_user, audit_segment_change
from segments.services.refresh import record_segment_size, start_segment_refresh

COPY_PREFIX = "Copy of "
NAME_MAX_LENGTH = Segment._meta.get_field("name").max_length


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
    locks.lock_rule_writes()
    segment = Segment(
        name=name.strip(),
        description=description.strip(),
        kind=kind,
        rules=canonical_rules(rules),
        created_by=acting_user(actor),
        updated_by=acting_user(actor),
    )
    segment.full_clean()
    segment.save()
    _stamp_change(segment, previous=None)
    audit_segment_change(
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
    locks.lock_rule_writes()
    segment = locks.lock_segment(segment.pk)
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
    segment.updated_by = acting_user(actor)
    segment.full_clean()
    segment.save(update_fields=[*changed, "updated_by"])
    _stamp_change(segment, previous=segment.updated_at)
    audit_segment_change(
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
    locks.lock_rule_writes()
    original = locks.lock_segment(segment.pk)
    copy = Segment(
        name=(name or f"{COPY_PREFIX}{original.name}")[:NAME_MAX_LENGTH].strip(),
        description=original.description,
        kind=original.kind,
        rules=canonical_rules(original.rules) if original.rules else {},
        created_by=acting_user(actor),
        updated_by=acting_user(actor),
    )
    copy.full_clean()
    copy.save()
    _stamp_change(copy, previous=None)
    audit_segment_change(
        actor=actor,
        now=now,
        action="segment.duplicate",
        segment=copy,
        changes={"duplicate_of": [None, original.pk], "name": [None, copy.name]},
    )
    if original.kind == SegmentKind.SNAPSHOT:
        copied = _copy_members(source_id=original.pk, target_id=copy.pk, now=now)
        record_segment_size(segment_id=copy.pk, size=copied, at=now)
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
    locks.lock_rule_writes()
    segment = locks.lock_segment(segment.pk)
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
        actor=acting_user(actor),
        action="segment.delete",
        object_type="segment",
        object_id=str(segment_id),
        changes={"name": [segment_name, None]},
    )


def _stamp_change(segment: Segment, *, previous: datetime | None) -> None:
    """Set `segment.updated_at` from the database, after every other segment's and after its
    own `previous` one, so that segments_version() (their max) moves forward with every
    committed change, whatever the clocks of the app servers: with a clock behind another
    server's, an edit written with the app's own time could leave the max where it was,
    and the claim engine would keep deciding with the old rules (campaigns.services.claims).

    Requires lock_rule_writes(): the writes are serialised, so each one sees the stamps of
    those committed before it.
    """
    table = Segment._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET updated_at = GREATEST("
            "clock_timestamp(), "
            f"(SELECT max(other.updated_at) FROM {table} other WHERE other.id <> %s) "
            "+ interval '1 microsecond', "
            "%s::timestamptz + interval '1 microsecond') "
            "WHERE id = %s RETURNING updated_at",
            [segment.pk, previous, segment.pk],
        )
        segment.updated_at = cursor.fetchone()[0]


def _copy_members(*, source_id: int, target_id: int, now: datetime) -> int:
    table = SegmentMember._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (segment_id, customer_id, added_at) "
            f"SELECT %s, customer_id, %s FROM {table} WHERE segment_id = %s",
            [target_id, now, source_id],
        )
        return cursor.rowcount
