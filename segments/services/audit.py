"""Who changed a segment: the AuditEntry SPEC §7 asks of every change, and the user recorded
as its actor (also as created_by and updated_by, and on a refresh Job)."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser

from crm.core.models import AuditEntry
from segments.models import Segment


def audit_segment_change(
    *,
    actor: AbstractBaseUser | None,
    now: datetime,
    action: str,
    segment: Segment,
    changes: dict[str, list],
) -> None:
    """Write the AuditEntry of a change to `segment` (`changes`: field -> [before, after])."""
    AuditEntry.objects.create(
        at=now,
        actor=acting_user(actor),
        action=action,
        object_type="segment",
        object_id=str(segment.pk),
        changes=changes,
    )


def acting_user(actor: AbstractBaseUser | None) -> AbstractBaseUser | None:
    """The user to record as having acted: None for no actor or an anonymous one."""
    return actor if actor is not None and actor.is_authenticated else None
