"""Every message a person reads gives its moments in the operator's time zone (TIME_ZONE,
Asia/Shanghai in the tests), as the pages show them: claim refusals (also those written by
the claim engine inside PostgreSQL), launch, start and edit refusals, redemption refusals."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings

from campaigns.exceptions import CampaignActionRefused, ClaimRefused, RedemptionRefused
from campaigns.models import HarassmentSettings
from campaigns.services.campaign_setup import update_campaign
from campaigns.services.claims import claim_coupon
from campaigns.services.lifecycle import schedule_campaign, start_campaign
from campaigns.services.redemptions import OrderLine, redeem_coupon

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")
DAY = timedelta(days=1)
# 16:00 UTC is midnight of the next day in Shanghai: the date itself reads differently.
ENDS = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
STARTS = datetime(2026, 11, 17, 16, 0, tzinfo=UTC)


def claim(campaign, customer, now, *, key="k1", trigger="login"):
    return claim_coupon(
        campaign=campaign.code,
        customer=customer.customer_id,
        channel="app_push",
        trigger=trigger,
        idempotency_key=key,
        now=now,
    )


def test_outside_window_refusal_reads_in_the_operators_zone(make_campaign, shopper):
    # given
    campaign = make_campaign(claim_starts_at=STARTS, claim_ends_at=ENDS)
    # when
    with pytest.raises(ClaimRefused) as refusal:
        claim(campaign, shopper, ENDS)
    # then
    assert refusal.value.reason == "outside_window"
    assert refusal.value.detail == (
        "claims are open from 2026-11-18 00:00 (Asia/Shanghai) "
        "until 2026-11-25 00:00 (Asia/Shanghai)"
    )


def test_seconds_are_shown_only_when_a_moment_has_them(make_campaign, shopper):
    # given: a window that opened at 09:30:15 Shanghai time (a "start now")
    campaign = make_campaign(
        claim_starts_at=datetime(2026, 11, 18, 1, 30, 15, 500000, tzinfo=UTC),
        claim_ends_at=ENDS,
    )
    # when
    with pytest.raises(ClaimRefused) as refusal:
        claim(campaign, shopper, STARTS)
    # then
    assert refusal.value.detail == (
        "claims are open from 2026-11-18 09:30:15 (Asia/Shanghai) "
        "until 2026-11-25 00:00 (Asia/Shanghai)"
    )


@override_settings(TIME_ZONE="America/New_York")
def test_the_engine_follows_the_configured_time_zone(make_campaign, shopper):
    # given
    campaign = make_campaign(claim_starts_at=STARTS, claim_ends_at=ENDS)
    # when
    with pytest.raises(ClaimRefused) as refusal:
        claim(campaign, shopper, ENDS + DAY)
    # then
    assert refusal.value.detail == (
        "claims are open from 2026-11-17 11:00 (America/New_York) "
        "until 2026-11-24 11:00 (America/New_York)"
    )


def test_harassment_interval_refusal_reads_in_the_operators_zone(
    make_campaign, make_template, shopper
):
    # given: the same template at most once per 24 hours, granted at 16:00 UTC
    HarassmentSettings.objects.filter(pk=1).update(min_hours_between_same_template=24)
    template = make_template()
    granted_at = ENDS - 3 * DAY
    claim(
        make_campaign(template=template, claim_starts_at=STARTS, claim_ends_at=ENDS),
        shopper,
        granted_at,
    )
    second = make_campaign(template=template, claim_starts_at=STARTS, claim_ends_at=ENDS)
    # when
    with pytest.raises(ClaimRefused) as refusal:
        claim(second, shopper, granted_at + timedelta(hours=1), key="k2")
    # then
    assert refusal.value.detail == (
        f"template {template.code} was granted at 2026-11-22 00:00 (Asia/Shanghai); "
        "at most once per 24 hours"
    )


def test_launch_refusal_for_an_ended_window_reads_in_the_operators_zone(make_campaign, marketer):
    # given
    campaign = make_campaign(status="draft", claim_starts_at=STARTS, claim_ends_at=ENDS)
    # when
    with pytest.raises(CampaignActionRefused) as refusal:
        schedule_campaign(campaign=campaign, actor=marketer, now=ENDS + DAY)
    # then
    assert refusal.value.reasons == [
        "the claim window ended at 2026-11-25 00:00 (Asia/Shanghai), which is in the past"
    ]


def test_one_policy_per_audience_refusals_read_in_the_operators_zone(make_campaign, marketer):
    # given: a running campaign on the same audience; a scheduled one and a draft overlapping
    make_campaign(code="first", claim_starts_at=STARTS, claim_ends_at=ENDS)
    draft = make_campaign(
        code="draft", status="draft", claim_starts_at=ENDS - DAY, claim_ends_at=ENDS + DAY
    )
    scheduled = make_campaign(
        code="next", status="scheduled", claim_starts_at=ENDS, claim_ends_at=ENDS + 5 * DAY
    )
    expected = [
        "one policy per audience: campaign first of business line 'snacks' already targets "
        "this segment from 2026-11-18 00:00 (Asia/Shanghai) to 2026-11-25 00:00 (Asia/Shanghai)"
    ]
    # when: the draft is scheduled, the scheduled one started now, and edited to overlap
    with pytest.raises(CampaignActionRefused) as scheduling:
        schedule_campaign(campaign=draft, actor=marketer, now=STARTS)
    with pytest.raises(CampaignActionRefused) as starting:
        start_campaign(campaign=scheduled, actor=marketer, now=STARTS + DAY)
    with pytest.raises(CampaignActionRefused) as editing:
        update_campaign(
            campaign=scheduled,
            fields={"claim_starts_at": ENDS - DAY},
            actor=marketer,
            now=STARTS,
        )
    # then
    assert scheduling.value.reasons == starting.value.reasons == editing.value.reasons == expected


@pytest.fixture
def fixed_coupon(make_campaign, make_template, shopper):
    template = make_template(valid_days=None, valid_from=ENDS - DAY, valid_until=ENDS, threshold=0)
    campaign = make_campaign(template=template, claim_starts_at=STARTS, claim_ends_at=ENDS)
    return claim(campaign, shopper, STARTS).coupons[0]


@pytest.mark.parametrize(
    ("now", "reason", "detail"),
    [
        pytest.param(
            ENDS - DAY - timedelta(seconds=1),
            "not_yet_valid",
            "is valid from 2026-11-24 00:00 (Asia/Shanghai)",
            id="not-yet-valid",
        ),
        pytest.param(ENDS, "expired", "expired at 2026-11-25 00:00 (Asia/Shanghai)", id="expired"),
    ],
)
def test_redemption_refusals_read_in_the_operators_zone(fixed_coupon, shopper, now, reason, detail):
    # when
    with pytest.raises(RedemptionRefused) as refusal:
        redeem_coupon(
            code=fixed_coupon.code,
            customer=shopper,
            order_id="O1",
            amount=Decimal("80.00"),
            items=[OrderLine(sku="N1", category="nuts", quantity=1, unit_price=Decimal("80.00"))],
            store="",
            city="",
            now=now,
        )
    # then
    assert (refusal.value.reason, refusal.value.detail) == (
        reason,
        f"coupon {fixed_coupon.code} {detail}",
    )
