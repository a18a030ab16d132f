"""The claim engine grants only through the campaign's channels and on its trigger (SPEC §4):
channel_not_in_campaign and trigger_not_in_campaign (SPEC §5), decided right after the city
scope and before the audience, recorded in the refusal ledger and the reports like the
others; the admin reissue claims through a channel and trigger the campaign accepts."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from campaigns.enums import ClaimRefusalReason
from campaigns.exceptions import ClaimRefused
from campaigns.models import Campaign, Coupon, CouponEvent, Grant
from campaigns.selectors import refusals_by_reason
from campaigns.services.claims import claim_coupon
from campaigns.services.support import reissue_coupon
from crm.models import Channel
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

# SPEC §5's list of claim refusal reasons, in its order (the order the engine decides in).
SPEC_REASONS = [
    "not_running",
    "outside_window",
    "out_of_scope",
    "channel_not_in_campaign",
    "trigger_not_in_campaign",
    "not_in_audience",
    "holdout",
    "daily_limit",
    "campaign_limit",
    "out_of_stock",
    "budget_exhausted",
    "harassment_cap",
    "harassment_interval",
]


@pytest.fixture
def sms(db):
    return Channel.objects.create(code="sms", name="SMS", kind="off_site")


@pytest.fixture
def wechat(db):
    return Channel.objects.create(code="wechat_oa", name="WeChat", kind="off_site")


@pytest.fixture
def self_claim_campaign(make_campaign):
    """The issue's campaign: app push only, the customer clicks "claim"."""
    return make_campaign(code="app-only", trigger="self")


def claim(campaign, customer, now, *, channel="app_push", trigger="self", key="k1"):
    return claim_coupon(
        campaign=campaign.code,
        customer=customer.customer_id,
        channel=channel,
        trigger=trigger,
        idempotency_key=key,
        now=now,
    )


def state(campaign: Campaign) -> tuple:
    campaign.refresh_from_db()
    return (campaign.issued_count, campaign.spent, Grant.objects.count(), Coupon.objects.count())


def assert_refused(campaign, customer, now, *, reason, channel, trigger) -> str:
    before = state(campaign)
    with pytest.raises(ClaimRefused) as refusal:
        claim(campaign, customer, now, channel=channel, trigger=trigger)
    assert refusal.value.reason == reason
    assert state(campaign) == before
    event = CouponEvent.objects.filter(kind="refusal").latest("pk")
    assert (event.campaign_id, event.customer_id, event.channel_code, event.reason) == (
        campaign.pk,
        customer.pk,
        channel,
        reason,
    )
    return refusal.value.detail


def test_refuses_a_channel_the_campaign_does_not_use(self_claim_campaign, shopper, sms, as_of):
    detail = assert_refused(
        self_claim_campaign,
        shopper,
        as_of,
        reason="channel_not_in_campaign",
        channel="sms",
        trigger="self",
    )
    assert detail == "channel sms is not one of the campaign's channels app_push"


def test_refuses_a_trigger_other_than_the_campaigns(self_claim_campaign, shopper, as_of):
    detail = assert_refused(
        self_claim_campaign,
        shopper,
        as_of,
        reason="trigger_not_in_campaign",
        channel="app_push",
        trigger="order_paid",
    )
    assert detail == "trigger order_paid is not the campaign's trigger self"


def test_the_issues_claim_through_sms_on_order_paid_is_409_and_grants_nothing(
    make_campaign, shopper, sms, integration_api
):
    # given: the issue's app-push-only campaign with trigger "self", open on the real clock
    now = timezone.now()
    campaign = make_campaign(
        code="app-only",
        trigger="self",
        claim_starts_at=now - timedelta(days=1),
        claim_ends_at=now + timedelta(days=6),
    )
    body = {
        "campaign": "app-only",
        "customer": "SH-1",
        "channel": "sms",
        "trigger": "order_paid",
        "idempotency_key": "k1",
    }
    # when
    response = integration_api.post("/api/v1/claims/", body, format="json")
    # then: the channel is decided first
    assert response.status_code == 409
    assert response.json() == {
        "reason": "channel_not_in_campaign",
        "detail": "channel sms is not one of the campaign's channels app_push",
    }
    assert state(campaign) == (0, Decimal("0.00"), 0, 0)
    # ... and through the right channel, the trigger still is refused
    body["channel"] = "app_push"
    body["idempotency_key"] = "k2"
    response = integration_api.post("/api/v1/claims/", body, format="json")
    assert response.json()["reason"] == "trigger_not_in_campaign"


def test_lists_every_channel_of_the_campaign_in_its_order(
    make_campaign, shopper, sms, wechat, as_of
):
    # given: channels added wechat first, then app push
    campaign = make_campaign(trigger="self", channels=[])
    campaign.channels.add(wechat)
    campaign.channels.add(Channel.objects.get(code="app_push"))
    # when
    detail = assert_refused(
        campaign, shopper, as_of, reason="channel_not_in_campaign", channel="sms", trigger="self"
    )
    # then
    assert detail == "channel sms is not one of the campaign's channels wechat_oa, app_push"


def test_a_campaign_without_channels_refuses_every_channel(make_campaign, shopper, as_of):
    campaign = make_campaign(trigger="self", channels=[])
    detail = assert_refused(
        campaign,
        shopper,
        as_of,
        reason="channel_not_in_campaign",
        channel="app_push",
        trigger="self",
    )
    assert detail == "channel app_push is not one of the campaign's channels (none)"


def test_grants_through_any_of_the_campaigns_channels(make_campaign, shopper, sms, as_of):
    # given
    campaign = make_campaign(trigger="self", channels=[Channel.objects.get(code="app_push"), sms])
    # when
    result = claim(campaign, shopper, as_of, channel="sms")
    # then
    assert result.created is True
    assert Grant.objects.get().channel == sms


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        pytest.param("out_of_scope", "channel_not_in_campaign", id="scope-before-channel"),
        pytest.param("channel_not_in_campaign", "trigger_not_in_campaign", id="channel-first"),
        pytest.param("trigger_not_in_campaign", "not_in_audience", id="trigger-before-audience"),
    ],
)
def test_channel_and_trigger_are_decided_in_spec_order(make_campaign, sms, as_of, earlier, later):
    # given: a customer outside the city scope and the audience, claiming through sms on
    # order_paid; each case lifts the rules before `earlier`
    scoped = earlier == "out_of_scope"
    campaign = make_campaign(trigger="self", cities=["Beijing"] if scoped else [])
    outsider = CustomerFactory(customer_id="CD-1", city="Chengdu")
    channel = "app_push" if earlier == "trigger_not_in_campaign" else "sms"
    # when
    with pytest.raises(ClaimRefused) as refusal:
        claim(campaign, outsider, as_of, channel=channel, trigger="order_paid")
    # then
    assert refusal.value.reason == earlier
    assert SPEC_REASONS.index(earlier) < SPEC_REASONS.index(later)


def test_the_refusal_reasons_are_spec_s_list_in_its_order():
    assert list(ClaimRefusalReason.values) == SPEC_REASONS


def test_refusals_by_reason_counts_the_new_reasons(self_claim_campaign, shopper, sms, as_of):
    # given
    claim_kwargs = {"channel": "sms", "trigger": "self"}
    for key in ("a", "b"):
        with pytest.raises(ClaimRefused):
            claim(self_claim_campaign, shopper, as_of, key=key, **claim_kwargs)
    with pytest.raises(ClaimRefused):
        claim(self_claim_campaign, shopper, as_of, key="c", trigger="share")
    # when
    rows = refusals_by_reason(campaign=self_claim_campaign)
    # then
    assert [(row.reason, row.label, row.refusals) for row in rows] == [
        ("channel_not_in_campaign", "The claim's channel is not one of the campaign's", 2),
        ("trigger_not_in_campaign", "The claim's trigger is not the campaign's", 1),
    ]


def test_the_campaign_page_shows_the_new_reasons(
    self_claim_campaign, shopper, sms, as_of, marketer, client
):
    # given
    with pytest.raises(ClaimRefused):
        claim(self_claim_campaign, shopper, as_of, channel="sms")
    client.force_login(marketer)
    # when
    page = client.get(reverse("campaign-detail", args=["app-only"])).content.decode()
    # then
    assert "The claim&#x27;s channel is not one of the campaign&#x27;s" in page


def test_the_claim_api_schema_names_the_new_reasons_with_an_example():
    # given
    schema = SchemaGenerator().get_schema(request=None, public=True)
    # when
    refusal = schema["components"]["schemas"]["ClaimRefusal"]["properties"]["reason"]
    examples = schema["paths"]["/api/v1/claims/"]["post"]["responses"]["409"]["content"][
        "application/json"
    ]["examples"]
    # then
    assert (
        "channel_not_in_campaign, trigger_not_in_campaign, not_in_audience"
        in refusal["description"]
    )
    assert examples["Refused:ChannelNotInCampaign"]["value"] == {
        "reason": "channel_not_in_campaign",
        "detail": "channel sms is not one of the campaign's channels app_push",
    }


def test_reissue_claims_through_a_channel_and_trigger_the_campaign_accepts(
    make_campaign, shopper, sms, support, as_of
):
    # given: a coupon granted before the engine checked channels, through sms on order_paid,
    # of a campaign that is app push on login
    campaign = make_campaign(code="legacy")
    granted = claim(campaign, shopper, as_of, trigger="login")
    Grant.objects.update(channel=sms, trigger="order_paid")
    coupon = Coupon.objects.get(pk=granted.coupons[0].pk)
    # when
    result = reissue_coupon(coupon=coupon, actor=support, reason="lost in app", now=as_of)
    # then
    assert result.created is True
    new_grant = Grant.objects.get(pk=result.grant.pk)
    assert (new_grant.channel.code, new_grant.trigger) == ("app_push", "login")


def test_reissue_keeps_the_grants_channel_when_the_campaign_still_uses_it(
    make_campaign, shopper, sms, support, as_of
):
    # given
    campaign = make_campaign(code="two", channels=[Channel.objects.get(code="app_push"), sms])
    coupon = claim(campaign, shopper, as_of, channel="sms", trigger="login").coupons[0]
    # when
    result = reissue_coupon(
        coupon=Coupon.objects.get(pk=coupon.pk), actor=support, reason="lost", now=as_of
    )
    # then
    assert Grant.objects.get(pk=result.grant.pk).channel.code == "sms"
