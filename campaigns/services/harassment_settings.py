"""The anti-harassment settings: the one row of limits the claim engine applies to CRM grants
(how many unused coupons a customer may hold, how soon a template may be granted again).

Writes follow campaigns.services.changes: validated per field, one transaction, an
AuditEntry with what changed, nothing written when nothing changes.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from campaigns.models import HarassmentSettings
from campaigns.services.changes import audit, refuse_unknown
from campaigns.services.claims import current_harassment_settings

HARASSMENT_FIELDS = ("max_unused_coupons", "min_hours_between_same_template")


def check_harassment_settings(*, harassment_settings: HarassmentSettings) -> None:
    """Raise ValidationError (per field) unless the settings are valid."""
    if harassment_settings.max_unused_coupons is not None and (
        harassment_settings.max_unused_coupons < 1
    ):
        raise ValidationError(
            {"max_unused_coupons": "Must be at least 1 (otherwise no coupon could be granted)."}
        )
    harassment_settings.full_clean(validate_unique=False)


@transaction.atomic
def update_harassment_settings(
    *, changes: Mapping[str, Any], actor, now: datetime
) -> HarassmentSettings:
    """Apply `changes` to the single anti-harassment settings row and audit them.

    Only HARASSMENT_FIELDS may change. The row is locked while read and written, so the
    audited "before" values are the ones replaced. Raises ValidationError (nothing written)
    for an invalid value. The new rules apply to the next claim.
    """
    refuse_unknown(changes, HARASSMENT_FIELDS)
    current_harassment_settings()
    harassment_settings = HarassmentSettings.objects.select_for_update().get(pk=1)
    before = {name: getattr(harassment_settings, name) for name in changes}
    for name, value in changes.items():
        setattr(harassment_settings, name, value)
    check_harassment_settings(harassment_settings=harassment_settings)
    changed = [name for name in changes if before[name] != getattr(harassment_settings, name)]
    if not changed:
        return harassment_settings
    harassment_settings.save(update_fields=[*changed, "updated_at"])
    audit(
        actor=actor,
        now=now,
        action="harassment_settings.update",
        object_type="harassment_settings",
        object_id=str(harassment_settings.pk),
        changes={name: [before[name], getattr(harassment_settings, name)] for name in changed},
    )
    return harassment_settings
