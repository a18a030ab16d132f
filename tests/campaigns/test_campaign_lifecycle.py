"""Status workflow, launch validation with every reason, and the window-edge automation."""

from datetime import timedelta
from decimal import Decimal

import pytest

from campaigns.exceptions import CampaignActionRefused
from campaigns.models import Campaign, CampaignResource
from campaigns.operator_time import operator_time
from campaigns.services.lifecycle import (
    advance_campaigns,
    cancel_campaign,
    finish_campaign,
    pause_campaign,
    resume_campaign,
    schedule_campaign,
)
from crm.core.models import AuditEntry
from segments.models import Segment
from segments.rules import canonical_rules

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def test_schedule_a_future_campaign(make_campaign, marketer, as_of):
    # given
    campaign = make_campaign(
        status="draft", claim_starts_at=as_of + DAY, claim_ends_at=as_of + 8 * DAY
    )
    # when
    schedule_campaign(campaign=campaign, actor=marketer, now=as_of)
    # then
    campaign.refresh_from_db()
    assert campaign.status == "scheduled"
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_id, entry.changes, entry.actor) == (
        "campaign.schedule",
        campaign.code,
        {"status": ["draft", "scheduled"]},
        marketer,
    )


def test_schedule_inside_the_window_starts_it(make_campaign, marketer, as_of):
    campaign = make_campaign(status="draft")
    schedule_campaign(campaign=campaign, actor=marketer, now=as_of)
    campaign.refresh_from_db()
    assert campaign.status == "running"


def test_launch_refuses_with_every_reason(make_campaign, make_template, marketer, as_of):
    # given: no channel, window over, budget and stock below one grant
    campaign = make_campaign(
        status="draft",
        channels=[],
        quantity=2,
        stock=1,
        budget=Decimal("5.00"),
        claim_starts_at=as_of - 10 * DAY,
        claim_ends_at=as_of - DAY,
    )
    # when
    with pytest.raises(CampaignActionRefused) as refusal:
        schedule_campaign(campaign=campaign, actor=marketer, now=as_of)
    # then
    assert refusal.value.reasons == [
        "choose at least one channel",
        f"the claim window ended at {operator_time(as_of - DAY)}, which is in the past",
        "the budget 5.00 is below the cost of one grant (20.00)",
        "the stock 1 is below the coupons of one grant (2)",
    ]
    campaign.refresh_from_db()
    assert campaign.status == "draft"
    assert AuditEntry.objects.count() == 0


def test_launch_refuses_campaign_without_resources(make_campaign, marketer, as_of):
    campaign = make_campaign(status="draft")
    CampaignResource.objects.filter(campaign=campaign).delete()
    with pytest.raises(CampaignActionRefused) as refusal:
        schedule_campaign(campaign=campaign, actor=marketer, now=as_of)
    assert refusal.value.reasons == ["add at least one coupon template as a resource"]


def test_one_policy_per_audience(make_campaign, marketer, as_of):
    # given: a running campaign of the same line on the same segment, overlapping
    running = make_campaign(code="first", status="running")
    campaign = make_campaign(
        status="draft", claim_starts_at=as_of + DAY, claim_ends_at=as_of + 20 * DAY
    )
    # when
    with pytest.raises(CampaignActionRefused) as refusal:
        schedule_campaign(campaign=campaign, actor=marketer, now=as_of)
    # then
    assert refusal.value.reasons == [
        f"one policy per audience: campaign first of business line 'snacks' already targets "
        f"this segment from {operator_time(running.claim_starts_at)} to "
        f"{operator_time(running.claim_ends_at)}"
    ]


@pytest.mark.parametrize(
    ("change", "allowed"),
    [
        pytest.param({"business_line": "tea"}, True, id="other-business-line"),
        pytest.param({"status": "finished"}, True, id="other-is-finished"),
        pytest.param({"claim_ends_at_offset": 0}, True, id="windows-touch-not-overlap"),
        pytest.param({}, False, id="same-line-same-segment-overlapping"),
    ],
)
def test_one_policy_per_audience_boundaries(make_campaign, marketer, as_of, change, allowed):
    # given: the other campaign ends exactly when ours starts (offset 0) or later
    offset = change.pop("claim_ends_at_offset", 3)
    starts = as_of + DAY
    other = {"status": "running", "claim_ends_at": starts + timedelta(days=offset)}
    other.update(change)
    make_campaign(code="other", **other)
    campaign = make_campaign(status="draft", claim_starts_at=starts, claim_ends_at=starts + 9 * DAY)
    # when / then
    if allowed:
        schedule_campaign(campaign=campaign, actor=marketer, now=as_of)
    else:
        with pytest.raises(CampaignActionRefused):
            schedule_campaign(campaign=campaign, actor=marketer, now=as_of)


def test_other_segment_is_not_a_conflict(make_campaign, marketer, as_of):
    make_campaign(code="other", status="running")
    beijing = Segment.objects.create(
        name="Beijing", rules=canonical_rules({"field": "city", "op": "in", "value": ["Beijing"]})
    )
    campaign = make_campaign(status="draft", segment=beijing)
    schedule_campaign(campaign=campaign, actor=marketer, now=as_of)
    campaign.refresh_from_db()
    assert campaign.status == "running"


def test_pause_resume_finish(make_campaign, marketer, as_of):
    campaign = make_campaign(status="running")
    pause_campaign(campaign=campaign, actor=marketer, now=as_of)
    resume_campaign(campaign=campaign, actor=marketer, now=as_of)
    finish_campaign(campaign=campaign, actor=marketer, now=as_of)
    campaign.refresh_from_db()
    assert campaign.status == "finished"
    assert list(AuditEntry.objects.order_by("at", "pk").values_list("action", flat=True)) == [
        "campaign.pause",
        "campaign.resume",
        "campaign.finish",
    ]


def test_resume_after_the_window_finishes(make_campaign, marketer, as_of):
    campaign = make_campaign(status="paused")
    resume_campaign(campaign=campaign, actor=marketer, now=campaign.claim_ends_at)
    campaign.refresh_from_db()
    assert campaign.status == "finished"


@pytest.mark.parametrize(
    ("action", "status"),
    [
        (pause_campaign, "draft"),
        (resume_campaign, "running"),
        (finish_campaign, "draft"),
        (cancel_campaign, "finished"),
        (schedule_campaign, "running"),
    ],
    ids=["pause-draft", "resume-running", "finish-draft", "cancel-finished", "schedule-running"],
)
def test_refuses_transitions_from_the_wrong_status(make_campaign, marketer, as_of, action, status):
    campaign = make_campaign(status=status)
    with pytest.raises(CampaignActionRefused) as refusal:
        action(campaign=campaign, actor=marketer, now=as_of)
    assert refusal.value.reason == "invalid_status"
    campaign.refresh_from_db()
    assert campaign.status == status


def test_advance_starts_and_finishes_at_the_window_edges(make_campaign, as_of):
    # given
    make_campaign(
        code="soon",
        status="scheduled",
        claim_starts_at=as_of + DAY,
        claim_ends_at=as_of + 5 * DAY,
        business_line="a",
    )
    make_campaign(code="ending", status="running", claim_ends_at=as_of + DAY, business_line="b")
    # when: one second before the edges nothing moves; at the edges both do
    before = advance_campaigns(now=as_of + DAY - timedelta(seconds=1))
    at_edge = advance_campaigns(now=as_of + DAY)
    # then
    assert before == {"started": 0, "finished": 0}
    assert at_edge == {"started": 1, "finished": 1}
    assert dict(Campaign.objects.values_list("code", "status")) == {
        "soon": "running",
        "ending": "finished",
    }
