"""Configuring campaigns: coupon templates, campaigns and the anti-harassment settings.

Every write validates the row (clear messages per field first, then full_clean() for the
database constraints), runs in one transaction and writes an AuditEntry with what changed
(SPEC §7: configuration changes go to the audit log). A change that changes nothing writes
nothing and no audit entry.
"""

import contextlib
import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction

from campaigns import locks, selectors
from campaigns.enums import CampaignStatus, CouponKind
from campaigns.exceptions import CampaignActionRefused
from campaigns.models import (
    Campaign,
    CampaignResource,
    Coupon,
    CouponTemplate,
    HarassmentSettings,
)
from campaigns.services.claims import current_harassment_settings
from campaigns.services.lifecycle import launch_problems
from crm.core.models import AuditEntry
from crm.models import Channel
from segments.models import Segment

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
)
# Redemption reads the kind, the cap and the restrictions from the template and the claim
# engine reads its cost and validity, so once a coupon of the template exists or a live
# campaign hands it out, changing any of them would change the deal under customers who
# already hold the coupon. Only the name stays editable; a new deal is a new template.
TEMPLATE_FIELDS_EDITABLE_IN_USE = frozenset({"name"})
LIST_FIELDS = ("categories", "skus", "stores", "cities")

CAMPAIGN_FIELDS = (
    "code",
    "name",
    "business_line",
    "campaign_type",
    "segment",
    "cities",
    "claim_starts_at",
    "claim_ends_at",
    "trigger",
    "daily_limit_per_customer",
    "limit_per_customer",
    "stock",
    "budget",
    "holdout_share",
)
# A scheduled, running or paused campaign was validated when it was scheduled, and customers
# may already hold its coupons: the audience, the limits, the resources, the channels and
# the window start decided those grants and the one-policy-per-audience check. Changing
# them would apply different rules to customers in the same campaign. The name is
# cosmetic; stock and budget may be topped up or cut (never below what is already issued
# or spent, which the CHECK constraints also hold); the end may move, re-checked below.
LIVE_EDITABLE_FIELDS = frozenset({"name", "stock", "budget", "claim_ends_at"})
# A finished or cancelled campaign is history for the reports: only its name may change.
ENDED_EDITABLE_FIELDS = frozenset({"name"})
LIVE_STATUSES = frozenset({CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.PAUSED})

HARASSMENT_FIELDS = ("max_unused_coupons", "min_hours_between_same_template")

FIELD_LABELS = {
    "segment": "audience segment",
    "claim_starts_at": "claim window start",
    "claim_ends_at": "claim window end",
    "daily_limit_per_customer": "daily limit per customer",
    "limit_per_customer": "limit per customer",
    "holdout_share": "holdout share",
    "campaign_type": "campaign type",
    "business_line": "business line",
    "resources": "coupons granted",
    "channels": "channels",
    "code": "code",
}


@dataclass(frozen=True)
class ResourceSpec:
    """One coupon template a grant hands out, `quantity` coupons of it."""

    template: CouponTemplate
    quantity: int


# Coupon templates -----------------------------------------------------------------------


@transaction.atomic
def create_coupon_template(*, fields: Mapping[str, Any], actor, now: datetime) -> CouponTemplate:
    """Create a validated coupon template and audit it.

    `fields` holds TEMPLATE_FIELDS (others are refused). Raises ValidationError, per field
    and nothing written, when a value or the combination (validity, percent cap) is wrong.
    """
    _refuse_unknown(fields, TEMPLATE_FIELDS)
    template = CouponTemplate(**_template_values(fields), created_by=actor, updated_by=actor)
    check_coupon_template(template=template)
    template.save()
    _audit(
        actor=actor,
        now=now,
        action="coupon_template.create",
        object_type="coupon_template",
        object_id=template.code,
        changes={name: [None, _json(getattr(template, name))] for name in TEMPLATE_FIELDS},
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
    _refuse_unknown(fields, TEMPLATE_FIELDS)
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
    _audit(
        actor=actor,
        now=now,
        action="coupon_template.update",
        object_type="coupon_template",
        object_id=template.code,
        changes={
            name: [_json(getattr(template, name)), _json(getattr(candidate, name))]
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
    _audit(
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
    if errors:
        raise ValidationError(errors)
    template.full_clean()


def _template_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    values = _with_model_scale(CouponTemplate, fields)
    for name in LIST_FIELDS:
        if name in values:
            values[name] = _clean_list(values[name])
    return values


# Campaigns ------------------------------------------------------------------------------


@transaction.atomic
def create_campaign(
    *,
    fields: Mapping[str, Any],
    resources: Sequence[ResourceSpec],
    channels: Sequence[Channel],
    actor,
    now: datetime,
) -> Campaign:
    """Create a draft campaign with its resources and channels, validated, and audit it.

    A draft may be incomplete (no resources or channels yet): scheduling checks that.
    Raises ValidationError, per field and nothing written, when a value is invalid.
    """
    _refuse_unknown(fields, CAMPAIGN_FIELDS)
    campaign = Campaign(
        **_campaign_values(fields),
        status=CampaignStatus.DRAFT,
        created_by=actor,
        updated_by=actor,
    )
    check_campaign(campaign=campaign, resources=resources)
    campaign.save()
    _replace_resources(campaign, resources)
    campaign.channels.set(channels)
    changes = {name: [None, _json(getattr(campaign, _attname(name)))] for name in CAMPAIGN_FIELDS}
    changes["resources"] = [None, _resources_json(resources)]
    changes["channels"] = [None, sorted(channel.code for channel in channels)]
    _audit(
        actor=actor,
        now=now,
        action="campaign.create",
        object_type="campaign",
        object_id=campaign.code,
        changes=changes,
    )
    return campaign


@dataclass(frozen=True)
class CampaignChange:
    """A checked edit of a campaign: the edited copy and what differs from the stored row."""

    current: Campaign
    candidate: Campaign
    changed: list[str]
    current_resources: list[ResourceSpec]
    resources: list[ResourceSpec] | None
    current_channels: list[str]
    channels: list[Channel] | None

    @property
    def touched(self) -> list[str]:
        return [
            *self.changed,
            *(["resources"] if self.resources is not None else []),
            *(["channels"] if self.channels is not None else []),
        ]


def check_campaign_change(
    *,
    campaign: Campaign,
    fields: Mapping[str, Any],
    resources: Sequence[ResourceSpec] | None = None,
    channels: Sequence[Channel] | None = None,
    now: datetime,
) -> CampaignChange:
    """Check an edit of `campaign` without writing; raise what update_campaign would.

    The returned change lists only what differs (resources and channels are None when
    unchanged). The admin form calls it to show refusals as form errors; update_campaign
    calls it again under the locks.
    """
    _refuse_unknown(fields, CAMPAIGN_FIELDS)
    current = campaign
    candidate = copy.copy(current)
    changed = []
    # Only changed values are copied over, so an unchanged moment keeps its stored form
    # (an input in +08:00 equals the stored UTC value but would read differently).
    for name, value in _campaign_values(fields).items():
        setattr(candidate, name, value)
        if getattr(candidate, _attname(name)) == getattr(current, _attname(name)):
            setattr(candidate, name, getattr(current, name))
        else:
            changed.append(name)
    changed.sort(key=CAMPAIGN_FIELDS.index)
    current_resources = _stored_resources(current)
    if resources is not None and _resource_keys(resources) == _resource_keys(current_resources):
        resources = None
    current_channels = sorted(current.channels.values_list("code", flat=True))
    if channels is not None and sorted(c.code for c in channels) == current_channels:
        channels = None
    change = CampaignChange(
        current=current,
        candidate=candidate,
        changed=changed,
        current_resources=current_resources,
        resources=None if resources is None else list(resources),
        current_channels=current_channels,
        channels=None if channels is None else list(channels),
    )
    if not change.touched:
        return change
    _check_editable(current, change.touched)
    check_campaign(
        campaign=candidate, resources=resources if resources is not None else current_resources
    )
    if current.status in LIVE_STATUSES:
        before = set(launch_problems(campaign=current, now=now))
        introduced = [
            problem
            for problem in launch_problems(campaign=candidate, now=now)
            if problem not in before
        ]
        if introduced:
            raise CampaignActionRefused("edit_refused", introduced)
    return change


@transaction.atomic
def update_campaign(
    *,
    campaign: Campaign,
    fields: Mapping[str, Any],
    resources: Sequence[ResourceSpec] | None = None,
    channels: Sequence[Channel] | None = None,
    actor,
    now: datetime,
) -> Campaign:
    """Apply `fields` (and the resources and channels, when given) and audit what changed.

    A draft may change anything but its code. A scheduled, running or paused campaign may
    change only LIVE_EDITABLE_FIELDS, keeping stock and budget at or above what is issued
    and spent, and an edit may not introduce a problem scheduling would refuse (e.g. a new
    end that overlaps a campaign of the same audience). A finished or cancelled campaign
    may only be renamed. Refusals raise CampaignActionRefused with every reason; invalid
    values raise ValidationError. Nothing is written in either case.

    Locks the audience segment's row, then the campaign's (the order schedule_campaign
    uses), so the counters the claim engine writes are never overwritten (update_fields)
    and a moved end cannot race a scheduling of the same audience.
    """
    Segment.objects.select_for_update().get(pk=campaign.segment_id)
    current = locks.lock_campaign(campaign.pk)
    change = check_campaign_change(
        campaign=current, fields=fields, resources=resources, channels=channels, now=now
    )
    if not change.touched:
        return current
    candidate = change.candidate
    candidate.updated_by = actor
    candidate.save(update_fields=[*change.changed, "updated_by", "updated_at"])
    audit_changes = {
        name: [_json(getattr(current, _attname(name))), _json(getattr(candidate, _attname(name)))]
        for name in change.changed
    }
    if change.resources is not None:
        _replace_resources(candidate, change.resources)
        audit_changes["resources"] = [
            _resources_json(change.current_resources),
            _resources_json(change.resources),
        ]
    if change.channels is not None:
        candidate.channels.set(change.channels)
        audit_changes["channels"] = [
            change.current_channels,
            sorted(channel.code for channel in change.channels),
        ]
    _audit(
        actor=actor,
        now=now,
        action="campaign.update",
        object_type="campaign",
        object_id=candidate.code,
        changes=audit_changes,
    )
    return candidate


@transaction.atomic
def delete_campaign(*, campaign: Campaign, actor, now: datetime) -> None:
    """Delete a draft campaign (with its resources) and audit it.

    Only drafts: a campaign that was ever scheduled may hold grants and is kept for the
    reports (cancel it instead). Raises CampaignActionRefused("invalid_status") otherwise.
    """
    campaign = locks.lock_campaign(campaign.pk)
    if campaign.status != CampaignStatus.DRAFT:
        raise CampaignActionRefused(
            "invalid_status",
            [f"only draft campaigns can be deleted; {campaign.code} is {campaign.status}"],
        )
    code = campaign.code
    campaign.delete()
    _audit(
        actor=actor,
        now=now,
        action="campaign.delete",
        object_type="campaign",
        object_id=code,
        changes={},
    )


def check_campaign(*, campaign: Campaign, resources: Sequence[ResourceSpec]) -> None:
    """Raise ValidationError (per field, in the marketer's words) unless the campaign is valid.

    Checks values and their combinations, not readiness to launch (schedule_campaign's
    launch_problems does that). The counters in the rules come from the row itself.
    """
    errors: dict[str, str] = {}
    starts, ends = campaign.claim_starts_at, campaign.claim_ends_at
    if starts is not None and ends is not None and ends <= starts:
        errors["claim_ends_at"] = "The claim window must end after it starts."
    for name in ("daily_limit_per_customer", "limit_per_customer"):
        value = getattr(campaign, name)
        if value is not None and value < 1:
            errors[name] = "Must be at least 1."
    daily, total = campaign.daily_limit_per_customer, campaign.limit_per_customer
    if not errors and daily and total and daily > total:
        errors["daily_limit_per_customer"] = (
            f"Cannot exceed the limit per customer for the whole campaign ({total})."
        )
    if campaign.stock is not None and campaign.stock < max(campaign.issued_count, 1):
        errors["stock"] = (
            f"Cannot go below the {campaign.issued_count} coupons already issued."
            if campaign.issued_count
            else "Must be at least 1."
        )
    if campaign.budget is not None:
        if campaign.budget <= 0:
            errors["budget"] = "Must be more than 0."
        elif campaign.budget < campaign.spent:
            errors["budget"] = f"Cannot go below the {campaign.spent} already spent."
    share = campaign.holdout_share
    if share is not None and not Decimal("0") <= share < Decimal("1"):
        errors["holdout_share"] = "Must be from 0% up to (not including) 100% of the audience."
    templates = [resource.template.pk for resource in resources]
    if len(set(templates)) != len(templates):
        errors["resources"] = "Each coupon template may appear once; raise its quantity instead."
    elif any(resource.quantity < 1 for resource in resources):
        errors["resources"] = "Each coupon template needs a quantity of at least 1."
    if errors:
        raise ValidationError(errors)
    campaign.full_clean()


def _check_editable(campaign: Campaign, touched: list[str]) -> None:
    if "code" in touched:
        raise CampaignActionRefused(
            "not_editable",
            ["the code of a campaign never changes: the shop's integrations claim with it"],
        )
    if campaign.status == CampaignStatus.DRAFT:
        return
    editable = LIVE_EDITABLE_FIELDS if campaign.status in LIVE_STATUSES else ENDED_EDITABLE_FIELDS
    refused = [name for name in touched if name not in editable]
    if refused:
        allowed = ", ".join(FIELD_LABELS.get(name, name) for name in sorted(editable))
        raise CampaignActionRefused(
            "not_editable",
            [
                f"the {FIELD_LABELS.get(name, name.replace('_', ' '))} of a {campaign.status} "
                f"campaign cannot change (only: {allowed})"
                for name in refused
            ],
        )


def _campaign_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    values = _with_model_scale(Campaign, fields)
    if "cities" in values:
        values["cities"] = _clean_list(values["cities"])
    return values


def _attname(name: str) -> str:
    # Compare the segment by id: the candidate may carry another instance of the same row.
    return "segment_id" if name == "segment" else name


def _stored_resources(campaign: Campaign) -> list[ResourceSpec]:
    return [
        ResourceSpec(template=resource.template, quantity=resource.quantity)
        for resource in CampaignResource.objects.filter(campaign=campaign)
        .select_related("template")
        .order_by("template__code")
    ]


def _resource_keys(resources: Sequence[ResourceSpec]) -> set[tuple[int, int]]:
    return {(resource.template.pk, resource.quantity) for resource in resources}


def _resources_json(resources: Sequence[ResourceSpec]) -> list[list]:
    return sorted([resource.template.code, resource.quantity] for resource in resources)


def _replace_resources(campaign: Campaign, resources: Sequence[ResourceSpec]) -> None:
    # Grants never point at resource rows, so a draft's resources can simply be rewritten.
    CampaignResource.objects.filter(campaign=campaign).delete()
    CampaignResource.objects.bulk_create(
        [
            CampaignResource(
                campaign=campaign, template=resource.template, quantity=resource.quantity
            )
            for resource in resources
        ]
    )


# Anti-harassment settings ---------------------------------------------------------------


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
    _refuse_unknown(changes, HARASSMENT_FIELDS)
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
    _audit(
        actor=actor,
        now=now,
        action="harassment_settings.update",
        object_type="harassment_settings",
        object_id=str(harassment_settings.pk),
        changes={name: [before[name], getattr(harassment_settings, name)] for name in changed},
    )
    return harassment_settings


# Shared ---------------------------------------------------------------------------------


def _refuse_unknown(fields: Mapping[str, Any], allowed: Sequence[str]) -> None:
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ValidationError(f"Not editable: {', '.join(unknown)}.")


def _with_model_scale(model, fields: Mapping[str, Any]) -> dict[str, Any]:
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


def _clean_list(values) -> list[str]:
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


def _json(value):
    # Money stays exact in the audit log (Decimal as its string), moments as ISO 8601 in
    # UTC, so the same moment always reads the same whichever zone the input came in.
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def _audit(
    *, actor, now: datetime, action: str, object_type: str, object_id: str, changes: dict
) -> None:
    AuditEntry.objects.create(
        at=now,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        changes=changes,
    )
