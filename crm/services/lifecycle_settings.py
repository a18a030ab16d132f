"""Editing the lifecycle thresholds (one settings row, changed by staff in the admin)."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from crm.core.models import AuditEntry
from crm.models import LifecycleSettings

EDITABLE_FIELDS = (
    "churn_days",
    "silent_days",
    "new_days",
    "mature_orders",
    "window_days",
    "high_value_min_spent",
    "medium_value_min_spent",
)
# Zero would make a rule meaningless (a 0-day window, mature after 0 orders).
POSITIVE_FIELDS = ("silent_days", "new_days", "mature_orders", "window_days")


def check_lifecycle_settings(*, lifecycle_settings: LifecycleSettings) -> None:
    """Raise ValidationError (per field, in the marketer's words) unless the row is valid.

    Field values are converted and checked first, then the rules between thresholds. The
    same rules are database constraints on LifecycleSettings; checking them here gives a
    clear message instead of a constraint name.
    """
    # The only unique field is the primary key of the single row.
    lifecycle_settings.full_clean(validate_unique=False, validate_constraints=False)
    errors = {
        name: "Must be at least 1."
        for name in POSITIVE_FIELDS
        if getattr(lifecycle_settings, name) < 1
    }
    if lifecycle_settings.silent_days >= lifecycle_settings.churn_days:
        errors["silent_days"] = (
            f"Silent days must be fewer than churn days ({lifecycle_settings.churn_days}): "
            "a customer goes silent before churning."
        )
    medium = lifecycle_settings.medium_value_min_spent
    if medium <= 0:
        errors["medium_value_min_spent"] = "Must be more than 0."
    if lifecycle_settings.high_value_min_spent <= medium:
        errors["high_value_min_spent"] = f"High value must start above medium value ({medium})."
    if errors:
        raise ValidationError(errors)
    lifecycle_settings.validate_constraints()


@transaction.atomic
def update_lifecycle_settings(
    *, changes: dict[str, Any], actor, now: datetime
) -> LifecycleSettings:
    """Apply `changes` to the single settings row, validated, and audit the change.

    Only EDITABLE_FIELDS may change. The row is locked while it is read and written so
    the audited "before" values are the ones replaced. Raises ValidationError (nothing
    written) if a value is invalid or the thresholds clash. A change that changes nothing
    writes nothing and no audit entry. New thresholds apply from the next metrics
    recompute.
    """
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValidationError(f"Not editable: {', '.join(unknown)}.")
    LifecycleSettings.objects.get_or_create(pk=1)
    lifecycle_settings = LifecycleSettings.objects.select_for_update().get(pk=1)
    before = {name: getattr(lifecycle_settings, name) for name in changes}
    for name, value in changes.items():
        setattr(lifecycle_settings, name, value)
    check_lifecycle_settings(lifecycle_settings=lifecycle_settings)
    changed = {
        name: {
            "before": _json_value(before[name]),
            "after": _json_value(getattr(lifecycle_settings, name)),
        }
        for name in changes
        if before[name] != getattr(lifecycle_settings, name)
    }
    if not changed:
        return lifecycle_settings
    lifecycle_settings.save(update_fields=[*changed, "updated_at"])
    AuditEntry.objects.create(
        at=now,
        actor=actor,
        action="update_lifecycle_settings",
        object_type="lifecycle_settings",
        object_id=str(lifecycle_settings.pk),
        changes=changed,
    )
    return lifecycle_settings


def _json_value(value):
    # Money stays exact in the audit log: Decimal as its string, never a float.
    return str(value) if isinstance(value, Decimal) else value
