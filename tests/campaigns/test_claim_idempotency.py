"""Idempotency keys: a retried claim returns the same coupon, never a second one."""

import pytest

from campaigns.exceptions import IdempotencyKeyReused
from campaigns.models import Coupon, Grant
from campaigns.services.claims import claim_coupon
from crm.models import Channel
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_same_key_returns_the_first_grant(make_campaign, shopper, app_push, as_of):
    # given
    campaign = make_campaign(limit_per_customer=5, daily_limit_per_customer=5)
    first = claim_coupon(
        campaign=campaign.code,
        customer=shopper.customer_id,
        channel=app_push.code,
        trigger="login",
        idempotency_key="order-42",
        now=as_of,
    )
    # when
    retry = claim_coupon(
        campaign=campaign.code,
        customer=shopper.customer_id,
        channel=app_push.code,
        trigger="login",
        idempotency_key="order-42",
        now=as_of,
    )
    # then
    assert (first.created, retry.created) == (True, False)
    assert [c.code for c in retry.coupons] == [c.code for c in first.coupons]
    campaign.refresh_from_db()
    assert (campaign.issued_count, Grant.objects.count(), Coupon.objects.count()) == (1, 1, 1)


def test_same_key_with_another_payload_is_refused(make_campaign, shopper, app_push, as_of):
    # given
    campaign = make_campaign()
    claim_coupon(
        campaign=campaign.code,
        customer=shopper.customer_id,
        channel=app_push.code,
        trigger="login",
        idempotency_key="k",
        now=as_of,
    )
    other_channel = Channel.objects.create(code="sms", name="SMS", kind="off_site")
    other_customer = CustomerFactory(city="Shanghai")
    # when / then: another channel, another customer
    for customer, channel in ((shopper, other_channel), (other_customer, app_push)):
        with pytest.raises(IdempotencyKeyReused) as refusal:
            claim_coupon(
                campaign=campaign.code,
                customer=customer.customer_id,
                channel=channel.code,
                trigger="login",
                idempotency_key="k",
                now=as_of,
            )
        assert refusal.value.reason == "idempotency_key_reused"
    assert (Grant.objects.count(), Coupon.objects.count()) == (1, 1)


def test_retry_after_the_campaign_paused_still_returns_the_coupon(
    make_campaign, shopper, app_push, as_of
):
    # given: the first answer was lost; meanwhile the campaign was paused
    campaign = make_campaign()
    first = claim_coupon(
        campaign=campaign.code,
        customer=shopper.customer_id,
        channel=app_push.code,
        trigger="login",
        idempotency_key="k",
        now=as_of,
    )
    campaign.status = "paused"
    campaign.save(update_fields=["status"])
    # when
    retry = claim_coupon(
        campaign=campaign.code,
        customer=shopper.customer_id,
        channel=app_push.code,
        trigger="login",
        idempotency_key="k",
        now=as_of,
    )
    # then: a retry is an answer to the first request, not a new claim
    assert retry.coupons[0].code == first.coupons[0].code
