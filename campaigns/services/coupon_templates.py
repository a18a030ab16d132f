"""Coupon templates: create, edit and delete the deals campaigns hand out.

Writes follow campaigns.services.changes: validated per field, one transaction, an
AuditEntry with what changed, nothing written when nothing changes.
"""

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from campaigns import selectors
from campaigns.enums import CouponKind
from campaigns.exceptions import CampaignActionRefused
from campaigns.models import CampaignResource, Coupon, CouponTemplate
from campaigns.services.changes import (
    audit,
    audit_value,
    clean_list,
    refuse_unknown,
    with_model_scale,
)
from crm.enums import ChannelKind

TEMPLATE_FIELDS = (
    "code",
    "name",
    "kind",
    "face_value",
    "max_discount",
    "threshold",
    "categories",
    "skus",
    "stores",
    "cities",
    "valid_from",
    "valid_until",
    "valid_days",
    "cost_bearer",
    "partner",
)
# Redemption reads the kind, the cap and the restrictions from the template and the claim
# engine reads its cost and validity, so once a coupon of the template exists or a live
# campaign hands it out, changing any of them would change the deal under customers who
# already hold the coupon. Only the name stays editable; a new deal is a new template.
TEMPLATE_FIELDS_EDITABLE_IN_USE = frozenset({"name"})
LIST_FIELDS = ("categories", "skus", "stores", "cities")


@transaction.atomic
def create_coupon_template(*, fields: Mapping[str, Any], actor, now: datetime) -> CouponTemplate:
    """Create a validated coupon template and audit it.

    `fields` holds TEMPLATE_FIELDS (others are refused). Raises ValidationError, per field
    and nothing written, when a value or the combination (validity, percent cap) is wrong.
    """
    refuse_unknown(fields, TEMPLATE_FIELDS)
    template = CouponTemplate(**_template_values(fields), created_by=actor, updated_by=actor)
    check_coupon_template(template=template)
    template.save()
    audit(
        actor=actor,
        now=now,
        action="coupon_template.create",
        object_type="coupon_template",
        object_id=template.code,
        changes={name: [None, audit_value(getattr(template, name))] for name in TEMPLATE_FIELDS},
    )
    return template


@dataclass(frozen=True)
class TemplateChange:
    """A checked edit of a coupon template: the edited copy and the fields that differ."""

    current: CouponTemplate
    candidate: CouponTemplate
    changed: list[str]


def check_coupon_template_change(
    *, template: CouponTemplate, fields: Mapping[str, Any]
) -> TemplateChange:
    """Check an edit of `template` without writing; raise what update_coupon_template would.

    The admin form calls it to show refusals as form errors; update_coupon_template calls
    it again under the row lock.
    """
    refuse_unknown(fields, TEMPLATE_FIELDS)
    candidate = copy.copy(template)
    for name, value in _template_values(fields).items():
        setattr(candidate, name, value)
    changed = [
        name for name in TEMPLATE_FIELDS if getattr(candidate, name) != getattr(template, name)
    ]
    if "code" in changed:
        raise CampaignActionRefused(
            "not_editable", ["the code of a coupon template never changes; create a new one"]
        )
    if not changed:
        return TemplateChange(current=template, candidate=candidate, changed=[])
    locked = [name for name in changed if name not in TEMPLATE_FIELDS_EDITABLE_IN_USE]
    if locked and selectors.is_coupon_template_in_use(template=template):
        raise CampaignActionRefused(
            "template_in_use",
            [
                f"{name.replace('_', ' ')} cannot change: coupons of template {template.code} "
                "are issued or a live campaign hands it out; create a new template instead"
                for name in locked
            ],
        )
    check_coupon_template(template=candidate)
    return TemplateChange(current=template, candidate=candidate, changed=changed)


@transaction.atomic
def update_coupon_template(
    *, template: CouponTemplate, fields: Mapping[str, Any], actor, now: datetime
) -> CouponTemplate:
    """Apply `fields` to the template, validated, and audit what changed.

    The code never changes (integrations and coupons refer to it). Once the template is in
    use (a coupon issued, or a resource of a campaign past draft) only its name may change;
    anything else raises CampaignActionRefused("template_in_use", reasons). Raises
    ValidationError (nothing written) for invalid values. Locks the template's row.
    """
    template = CouponTemplate.objects.select_for_update().get(pk=template.pk)
    change = check_coupon_template_change(template=template, fields=fields)
    if not change.changed:
        return template
    candidate = change.candidate
    candidate.updated_by = actor
    candidate.save(update_fields=[*change.changed, "updated_by", "updated_at"])
    audit(
        actor=actor,
        now=now,
        action="coupon_template.update",
        object_type="coupon_template",
        object_id=template.code,
        changes={
            name: [audit_value(getattr(template, name)), audit_value(getattr(candidate, name))]
            for name in change.changed
        },
    )
    return candidate


@transaction.atomic
def delete_coupon_template(*, template: CouponTemplate, actor, now: datetime) -> None:
    """Delete a template no campaign uses and no coupon was issued from, and audit it.

    Raises CampaignActionRefused("template_in_use") otherwise (nothing deleted).
    """
    template = CouponTemplate.objects.select_for_update().get(pk=template.pk)
    campaigns = sorted(
        CampaignResource.objects.filter(template=template).values_list("campaign__code", flat=True)
    )
    if campaigns or Coupon.objects.filter(template=template).exists():
        users = f"campaigns {', '.join(campaigns)}" if campaigns else "issued coupons"
        raise CampaignActionRefused(
            "template_in_use", [f"coupon template {template.code} is used by {users}"]
        )
    code = template.code
    template.delete()
    audit(
        actor=actor,
        now=now,
        action="coupon_template.delete",
        object_type="coupon_template",
        object_id=code,
        changes={},
    )


def check_coupon_template(*, template: CouponTemplate) -> None:
    """Raise ValidationError (per field, in the marketer's words) unless the template is valid.

    The same rules are CHECK constraints on CouponTemplate; checking them here first gives
    a message that says what to do instead of a constraint name.
    """
    errors: dict[str, str] = {}
    if template.face_value is not None and template.face_value <= 0:
        errors["face_value"] = "Must be more than 0."
    if template.threshold is not None and template.threshold < 0:
        errors["threshold"] = "Must be 0 (no minimum) or more."
    if template.kind == CouponKind.PERCENT:
        if template.face_value is not None and template.face_value > 100:
            errors["face_value"] = "A percent discount is at most 100 (% off)."
        if template.max_discount is None or template.max_discount <= 0:
            errors["max_discount"] = (
                "A percent discount needs a cap: the largest discount one coupon gives "
                "(it is also what one coupon costs the campaign budget)."
            )
    elif template.max_discount is not None:
        errors["max_discount"] = "Only percent discounts take a maximum discount; leave it empty."
    fixed = template.valid_from is not None or template.valid_until is not None
    if fixed and template.valid_days is not None:
        errors["valid_days"] = (
            "Choose either a fixed window (valid from and until) or a number of days after "
            "the claim, not both."
        )
    elif fixed:
        if template.valid_from is None:
            errors["valid_from"] = "A fixed window needs its start."
        elif template.valid_until is None:
            errors["valid_until"] = "A fixed window needs its end."
        elif template.valid_until <= template.valid_from:
            errors["valid_until"] = "Must be after valid from."
    elif template.valid_days is None:
        errors["valid_days"] = (
            "Give the use validity: a fixed window (valid from and until) or a number of days "
            "after the claim."
        )
    elif template.valid_days < 1:
        errors["valid_days"] = "Must be at least 1 day."
    if template.partner is not None and template.partner.kind != ChannelKind.PARTNER:
        errors["partner"] = (
            f"{template.partner.code} is a {template.partner.get_kind_display().lower()} "
            "channel; only a partner channel's platform issues codes."
        )
    if errors:
        raise ValidationError(errors)
    template.full_clean()


def _template_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    values = with_model_scale(CouponTemplate, fields)
    for name in LIST_FIELDS:
        if name in values:
            values[name] = clean_list(values[name])
    return values
