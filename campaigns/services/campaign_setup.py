"""Campaign setup: create, edit and delete a campaign with its coupons granted and channels.

Writes follow campaigns.services.changes: validated per field, one transaction, an
AuditEntry with what changed, nothing written when nothing changes. Readiness to launch is
decided by campaigns.services.lifecycle (launch_problems); an edit of a live campaign is
refused when it would introduce a problem that scheduling refuses.
"""

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from campaigns import locks
from campaigns.enums import AmountDistribution, CampaignStatus, CouponKind, EnvelopeKind
from campaigns.exceptions import CampaignActionRefused
from campaigns.models import Campaign, CampaignResource, CouponTemplate
from campaigns.services.changes import (
    audit,
    audit_value,
    clean_list,
    refuse_unknown,
    with_model_scale,
)
from campaigns.services.lifecycle import launch_problems
from crm.models import Channel
from segments.models import Segment

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
    "members_only",
    "member_tiers",
    "envelope_kind",
    "decay_ratio",
    "decay_floor",
    "random_min",
    "random_max",
    "random_distribution",
)
# A draft, and a scheduled campaign until it starts (SPEC §4), may change anything but its
# code: the engine grants only while a campaign runs, so nobody holds its coupons yet. A
# scheduled one is re-checked as scheduling checks it (below).
OPEN_STATUSES = frozenset({CampaignStatus.DRAFT, CampaignStatus.SCHEDULED})
# A running or paused campaign was validated when it was scheduled, and customers may
# already hold its coupons: the audience, the limits, the resources, the channels and the
# window start decided those grants and the one-policy-per-audience check. Changing them
# would apply different rules to customers in the same campaign. The name is cosmetic;
# stock and budget may be topped up or cut (never below what is already issued or spent,
# which the CHECK constraints also hold); the end may move, re-checked below.
LIVE_EDITABLE_FIELDS = frozenset({"name", "stock", "budget", "claim_ends_at"})
# A finished or cancelled campaign is history for the reports: only its name may change.
ENDED_EDITABLE_FIELDS = frozenset({"name"})
LIVE_STATUSES = frozenset({CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.PAUSED})

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
    refuse_unknown(fields, CAMPAIGN_FIELDS)
    campaign = Campaign(
        **_campaign_values(fields),
        status=CampaignStatus.DRAFT,
        created_by=actor,
        updated_by=actor,
    )
    check_campaign(campaign=campaign, resources=resources)
    campaign.save()
    _replace_resources(campaign, resources)
    set_channels(campaign, channels)
    changes = {
        name: [None, audit_value(getattr(campaign, _attname(name)))] for name in CAMPAIGN_FIELDS
    }
    changes["resources"] = [None, _resources_json(resources)]
    changes["channels"] = [None, sorted(channel.code for channel in channels)]
    audit(
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
    refuse_unknown(fields, CAMPAIGN_FIELDS)
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

    A draft or a scheduled campaign may change anything but its code. A running or paused
    campaign may change only LIVE_EDITABLE_FIELDS, keeping stock and budget at or above
    what is issued and spent. An edit of a scheduled, running or paused campaign may not
    introduce a problem scheduling would refuse (e.g. a new end that overlaps a campaign of
    the same audience). A finished or cancelled campaign
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
        name: [
            audit_value(getattr(current, _attname(name))),
            audit_value(getattr(candidate, _attname(name))),
        ]
        for name in change.changed
    }
    if change.resources is not None:
        _replace_resources(candidate, change.resources)
        audit_changes["resources"] = [
            _resources_json(change.current_resources),
            _resources_json(change.resources),
        ]
    if change.channels is not None:
        set_channels(candidate, change.channels)
        audit_changes["channels"] = [
            change.current_channels,
            sorted(channel.code for channel in change.channels),
        ]
    audit(
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
    audit(
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
    errors.update(_envelope_problems(campaign, resources))
    templates = [resource.template.pk for resource in resources]
    if len(set(templates)) != len(templates):
        errors["resources"] = "Each coupon template may appear once; raise its quantity instead."
    elif any(resource.quantity < 1 for resource in resources):
        errors["resources"] = "Each coupon template needs a quantity of at least 1."
    if errors:
        raise ValidationError(errors)
    campaign.full_clean()


def _envelope_problems(campaign: Campaign, resources: Sequence[ResourceSpec]) -> dict[str, str]:
    """A red envelope's settings (SPEC §4): a shared one decays from its cash coupon's face
    value by a ratio to a floor; a random one draws in a range; each grants one cash coupon
    (a draft may not have it yet: scheduling checks that, launch_problems)."""
    errors: dict[str, str] = {}
    kind = campaign.envelope_kind
    if kind == EnvelopeKind.SHARED:
        if campaign.decay_ratio is None or not Decimal("0") < campaign.decay_ratio <= 1:
            errors["decay_ratio"] = "The second claim's share of the amount: above 0, up to 1."
        if campaign.decay_floor is None or campaign.decay_floor <= 0:
            errors["decay_floor"] = "The amount of the third and later claims: more than 0."
    elif kind == EnvelopeKind.RANDOM:
        low, high = campaign.random_min, campaign.random_max
        if low is None or low <= 0:
            errors["random_min"] = "The smallest amount: more than 0."
        elif high is None or high < low:
            errors["random_max"] = "The largest amount: at least the smallest."
        if campaign.random_distribution not in (
            AmountDistribution.UNIFORM,
            AmountDistribution.MOSTLY_LOW,
        ):
            errors["random_distribution"] = "Choose how amounts are drawn in the range."
    if kind and any(r.template.kind != CouponKind.CASH or r.quantity != 1 for r in resources):
        errors["resources"] = "A red envelope grants one cash coupon (quantity 1) per claim."
    if kind and len(resources) > 1:
        errors["resources"] = "A red envelope grants one cash coupon (quantity 1) per claim."
    return errors


def _check_editable(campaign: Campaign, touched: list[str]) -> None:
    if "code" in touched:
        raise CampaignActionRefused(
            "not_editable",
            ["the code of a campaign never changes: the shop's integrations claim with it"],
        )
    if campaign.status in OPEN_STATUSES:
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
    values = with_model_scale(Campaign, fields)
    for name in ("cities", "member_tiers"):
        if name in values:
            values[name] = clean_list(values[name])
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


def set_channels(campaign: Campaign, channels: Sequence[Channel]) -> None:
    """Give the campaign these channels in this order: the campaign's order of SPEC §4 (a
    push grant belongs to the first channel in it that reached the customer) is the order of
    the link rows, which Django's set() does not keep."""
    links = campaign.channels.through
    links.objects.filter(campaign=campaign).delete()
    links.objects.bulk_create([links(campaign=campaign, channel=channel) for channel in channels])
