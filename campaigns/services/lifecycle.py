"""Campaign status workflow: draft -> scheduled -> running -> paused -> finished/cancelled.

Scheduling validates everything and refuses with every reason found; the start and the
finish at the window edges are applied by advance_campaigns (Celery beat). A scheduled
campaign can also be started now (SPEC §4): its window opens at once, its end stays.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import Q

from campaigns.enums import CampaignStatus
from campaigns.exceptions import CampaignActionRefused
from campaigns.models import Campaign, CampaignResource
from campaigns.operator_time import operator_time
from campaigns.services.audience_record import record_audience
from campaigns.services.push_delivery import lock_push, pause_push, resume_push, start_push
from crm.core.models import AuditEntry
from segments.models import Segment

# Which statuses each action may start from.
ALLOWED_FROM = {
    "schedule": {CampaignStatus.DRAFT},
    "start": {CampaignStatus.SCHEDULED},
    "pause": {CampaignStatus.RUNNING},
    "resume": {CampaignStatus.PAUSED},
    "finish": {CampaignStatus.RUNNING, CampaignStatus.PAUSED, CampaignStatus.SCHEDULED},
    "cancel": {
        CampaignStatus.DRAFT,
        CampaignStatus.SCHEDULED,
        CampaignStatus.PAUSED,
        CampaignStatus.RUNNING,
    },
}


def launch_problems(*, campaign: Campaign, now: datetime) -> list[str]:
    """Every reason the campaign cannot be scheduled now (empty when it can)."""
    problems = []
    resources = list(CampaignResource.objects.filter(campaign=campaign).select_related("template"))
    if not resources:
        problems.append("add at least one coupon template as a resource")
    if not campaign.channels.exists():
        problems.append("choose at least one channel")
    if campaign.claim_ends_at <= now:
        problems.append(
            f"the claim window ended at {operator_time(campaign.claim_ends_at)}, "
            "which is in the past"
        )
    if campaign.envelope_kind and (
        len(resources) != 1 or resources[0].template.kind != "cash" or resources[0].quantity != 1
    ):
        problems.append("a red envelope grants exactly one cash coupon (quantity 1) per claim")
    if resources:
        coupons_per_grant = sum(resource.quantity for resource in resources)
        cost_per_grant = sum(r.template.budget_cost * r.quantity for r in resources)
        if campaign.envelope_kind == "random" and campaign.random_max is not None:
            cost_per_grant = campaign.random_max
        if campaign.budget < cost_per_grant:
            problems.append(
                f"the budget {campaign.budget} is below the cost of one grant ({cost_per_grant})"
            )
        if campaign.stock < coupons_per_grant:
            problems.append(
                f"the stock {campaign.stock} is below the coupons of one grant "
                f"({coupons_per_grant})"
            )
        for resource in resources:
            template = resource.template
            if template.valid_until is not None and template.valid_until <= now:
                problems.append(f"coupon template {template.code} is no longer valid")
    clash = _overlapping_campaign(campaign)
    if clash is not None:
        problems.append(
            f"one policy per audience: campaign {clash.code} of business line "
            f"{campaign.business_line!r} already targets this segment from "
            f"{operator_time(clash.claim_starts_at)} to {operator_time(clash.claim_ends_at)}"
        )
    return problems


@transaction.atomic
def schedule_campaign(*, campaign: Campaign, actor, now: datetime) -> Campaign:
    """Validate and schedule a draft (running at once if its window has started).

    Locks the audience segment's row first, so two campaigns of one business line can never
    both pass the one-policy-per-audience check at the same moment.
    """
    Segment.objects.select_for_update().get(pk=campaign.segment_id)
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    _require(campaign, "schedule")
    problems = launch_problems(campaign=campaign, now=now)
    if problems:
        raise CampaignActionRefused("launch_refused", problems)
    status = CampaignStatus.RUNNING if campaign.claim_starts_at <= now else CampaignStatus.SCHEDULED
    return _set_status(campaign, status, actor=actor, now=now, action="schedule")


@transaction.atomic
def start_campaign(*, campaign: Campaign, actor, now: datetime) -> Campaign:
    """Start a scheduled campaign now: its claim window opens at `now`, its end stays.

    Refuses (CampaignActionRefused "start_refused", with every reason) what scheduling
    would refuse for the moved window: an end in the past, an overlap with another campaign
    of the same business line on the same segment (one policy per audience), and the rest of
    launch_problems. Takes the segment's lock first, as schedule_campaign does, so the
    overlap check cannot race another schedule or start.
    """
    Segment.objects.select_for_update().get(pk=campaign.segment_id)
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    _require(campaign, "start")
    previous_start = campaign.claim_starts_at
    campaign.claim_starts_at = now
    problems = launch_problems(campaign=campaign, now=now)
    if problems:
        raise CampaignActionRefused("start_refused", problems)
    campaign.status = CampaignStatus.RUNNING
    campaign.updated_by = actor
    campaign.save(update_fields=["claim_starts_at", "status", "updated_by", "updated_at"])
    record_audience(campaign=campaign, now=now)
    start_push(campaign=campaign, now=now)
    AuditEntry.objects.create(
        at=now,
        actor=actor,
        action="campaign.start",
        object_type="campaign",
        object_id=campaign.code,
        changes={
            "status": [CampaignStatus.SCHEDULED, CampaignStatus.RUNNING],
            "claim_starts_at": [previous_start.isoformat(), now.isoformat()],
        },
    )
    return campaign


@transaction.atomic
def pause_campaign(*, campaign: Campaign, actor, now: datetime) -> Campaign:
    """Stop claims of a running campaign, and its push, until it is resumed. The push's
    batches in flight finish first; none starts after."""
    pause_push(campaign=campaign)
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    _require(campaign, "pause")
    return _set_status(campaign, CampaignStatus.PAUSED, actor=actor, now=now, action="pause")


@transaction.atomic
def resume_campaign(*, campaign: Campaign, actor, now: datetime) -> Campaign:
    """Resume a paused campaign and its push (finished instead if its window has ended
    meanwhile)."""
    lock_push(campaign=campaign)
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    _require(campaign, "resume")
    status = CampaignStatus.FINISHED if campaign.claim_ends_at <= now else CampaignStatus.RUNNING
    campaign = _set_status(campaign, status, actor=actor, now=now, action="resume")
    if status == CampaignStatus.RUNNING:
        resume_push(campaign=campaign, now=now)
    return campaign


@transaction.atomic
def finish_campaign(*, campaign: Campaign, actor, now: datetime) -> Campaign:
    """End the campaign now; issued coupons stay valid."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    _require(campaign, "finish")
    return _set_status(campaign, CampaignStatus.FINISHED, actor=actor, now=now, action="finish")


@transaction.atomic
def cancel_campaign(*, campaign: Campaign, actor, now: datetime) -> Campaign:
    """Cancel the campaign; issued coupons stay valid."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    _require(campaign, "cancel")
    return _set_status(campaign, CampaignStatus.CANCELLED, actor=actor, now=now, action="cancel")


@transaction.atomic
def advance_campaigns(*, now: datetime) -> dict[str, int]:
    """Start scheduled campaigns whose window opened, recording each one's audience;
    finish those whose window closed."""
    opening = list(
        Campaign.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("segment")
        .filter(status=CampaignStatus.SCHEDULED, claim_starts_at__lte=now, claim_ends_at__gt=now)
    )
    started = Campaign.objects.filter(pk__in=[campaign.pk for campaign in opening]).update(
        status=CampaignStatus.RUNNING, updated_at=now
    )
    for campaign in opening:
        campaign.status = CampaignStatus.RUNNING
        record_audience(campaign=campaign, now=now)
        start_push(campaign=campaign, now=now)
    finished = Campaign.objects.filter(
        Q(status__in=[CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.PAUSED]),
        claim_ends_at__lte=now,
    ).update(status=CampaignStatus.FINISHED, updated_at=now)
    return {"started": started, "finished": finished}


def _overlapping_campaign(campaign: Campaign) -> Campaign | None:
    """Another live campaign of the same business line on the same segment whose window
    overlaps this campaign's (one policy per audience, SPEC §4)."""
    return (
        Campaign.objects.filter(
            business_line=campaign.business_line,
            segment_id=campaign.segment_id,
            status__in=[CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.PAUSED],
            claim_starts_at__lt=campaign.claim_ends_at,
            claim_ends_at__gt=campaign.claim_starts_at,
        )
        .exclude(pk=campaign.pk)
        .order_by("claim_starts_at")
        .first()
    )


def _require(campaign: Campaign, action: str) -> None:
    if campaign.status not in ALLOWED_FROM[action]:
        allowed = ", ".join(sorted(ALLOWED_FROM[action]))
        raise CampaignActionRefused(
            "invalid_status",
            [f"cannot {action} a {campaign.status} campaign (only from {allowed})"],
        )


def _set_status(campaign: Campaign, status: str, *, actor, now: datetime, action: str):
    previous = campaign.status
    campaign.status = status
    campaign.updated_by = actor
    campaign.save(update_fields=["status", "updated_by", "updated_at"])
    if status == CampaignStatus.RUNNING:
        # Scheduling a campaign whose window has begun starts it (a resumed one keeps its
        # first record and its push).
        record_audience(campaign=campaign, now=now)
        start_push(campaign=campaign, now=now)
    AuditEntry.objects.create(
        at=now,
        actor=actor,
        action=f"campaign.{action}",
        object_type="campaign",
        object_id=campaign.code,
        changes={"status": [previous, status]},
    )
    return campaign
