"""How a configuration change is read and audited: shared by templates, campaigns and settings.

Every configuration write (campaigns.services.coupon_templates, .campaign_setup,
.harassment_settings) validates the row (clear messages per field first, then full_clean()
for the database constraints), runs in one transaction and writes an AuditEntry with what
changed (SPEC §7: configuration changes go to the audit log). A change that changes nothing
writes nothing and no audit entry. This module holds the pieces those writes share: the
input clean-up and the audit entry with its value format.
"""

import contextlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Model

from crm.core.models import AuditEntry


def refuse_unknown(fields: Mapping[str, Any], allowed: Sequence[str]) -> None:
    """Raise ValidationError when `fields` names anything outside `allowed`."""
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ValidationError(f"Not editable: {', '.join(unknown)}.")


def with_model_scale(model, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `fields` with each Decimal at its `model` column's scale."""
    # Money at the column's scale ("2000" -> 2000.00), as the database will store it, so
    # the returned row and the audit log show what was saved.
    values = dict(fields)
    for name, value in values.items():
        field = model._meta.get_field(name)
        if isinstance(field, models.DecimalField) and isinstance(value, Decimal):
            # Too many digits to quantize: left as given, full_clean() names the field.
            with contextlib.suppress(InvalidOperation):
                values[name] = value.quantize(Decimal(1).scaleb(-field.decimal_places))
    return values


def clean_list(values) -> list[str]:
    """A list field's values trimmed, without blanks or repeats."""
    # "Shanghai, Beijing" from a form or ["Shanghai", " "] from the API: trimmed, no blanks,
    # first occurrence kept.
    if isinstance(values, str):
        values = values.split(",")
    cleaned: list[str] = []
    for value in values or []:
        text = str(value).strip()
        if text and text not in cleaned:
            cleaned.append(text)
    return cleaned


def audit_value(value):
    """`value` as the audit log stores it."""
    # Money stays exact in the audit log (Decimal as its string), moments as ISO 8601 in
    # UTC, so the same moment always reads the same whichever zone the input came in.
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Model):  # a channel, by its code
        return str(value)
    return value


def audit(
    *, actor, now: datetime, action: str, object_type: str, object_id: str, changes: dict
) -> None:
    """Write the AuditEntry of one configuration change (`changes`: name -> [before, after])."""
    AuditEntry.objects.create(
        at=now,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        changes=changes,
    )
