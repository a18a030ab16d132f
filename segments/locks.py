"""Locks of segment writes, always taken in this order within one transaction:

    1. lock_rule_writes()                    advisory lock: every write of rules
    2. lock_segment(segment_id)              Segment row, FOR UPDATE: a change or a delete
    3. lock_segment_for_members(segment_id)  Segment row, FOR NO KEY UPDATE: members written

A refresh holds its segment's refresh lock (a session-level advisory lock, across its
transactions) and takes only 3 inside it; no rule write takes the refresh lock, so no two
writers can wait on each other in a cycle. Nothing else in segments calls
select_for_update() or takes an advisory lock.
"""

from django.db import connection

from segments.models import Segment

# Advisory lock namespace (first key) of segment refreshes; the second key is the segment.
REFRESH_LOCK_NAMESPACE = 0x5E6
# Advisory lock key of rule writes (create, change, delete of segments); never a refresh's
# key, whose second half is a segment id kept to 31 bits.
RULE_WRITES_LOCK_KEY = (REFRESH_LOCK_NAMESPACE, -1)


def lock_rule_writes() -> None:
    """Serialise writes of segment rules until the transaction ends, so that two concurrent
    edits can never make an in_segment cycle that neither saw, nor delete a segment another
    one just started to reference.

    Requires: an open transaction, no other segment lock held.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", list(RULE_WRITES_LOCK_KEY))


def lock_segment(segment_id: int) -> Segment:
    """Take and return the segment's row for a change (raises Segment.DoesNotExist).

    Requires: an open transaction and lock_rule_writes() held.
    """
    return Segment.objects.select_for_update().get(pk=segment_id)


def lock_segment_for_members(segment_id: int) -> None:
    """Keep the segment from being deleted while a batch writes its members (FOR NO KEY
    UPDATE: a campaign may still reference it meanwhile). Raises Segment.DoesNotExist.

    Requires: an open transaction; in a refresh, the segment's refresh lock.
    """
    Segment.objects.select_for_update(no_key=True).only("pk").get(pk=segment_id)


def try_lock_refresh(segment_id: int) -> bool:
    """Take the segment's refresh lock unless another session holds it; True if taken.

    Session-level: held until unlock_refresh() or until the connection dies, whatever
    transactions end meanwhile. Requires: no other segment lock held.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", _refresh_key(segment_id))
        return cursor.fetchone()[0]


def lock_refresh(segment_id: int) -> None:
    """Wait for the segment's refresh lock and take it (as try_lock_refresh)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", _refresh_key(segment_id))


def unlock_refresh(segment_id: int) -> None:
    """Release the segment's refresh lock held by this session."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", _refresh_key(segment_id))


def _refresh_key(segment_id: int) -> list[int]:
    # Advisory keys are 32-bit; two segments sharing a key would only wait for each other.
    return [REFRESH_LOCK_NAMESPACE, segment_id & 0x7FFFFFFF]
