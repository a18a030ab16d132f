"""The claim engine runs in the database: two queries per API claim, an audience that
follows segment edits at once, and the holdout draw it documents."""

import hashlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.exceptions import ClaimRefused
from campaigns.selectors import is_in_holdout
from campaigns.services.claims import claim_coupon
from segments.services.definitions import update_segment
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def claim(campaign, customer, channel, now, *, key):
    return claim_coupon(
        campaign=campaign.code,
        customer=customer.customer_id,
        channel=channel.code,
        trigger="login",
        idempotency_key=key,
        now=now,
    )


def test_api_claim_is_two_queries_token_with_roles_then_the_engine(
    make_campaign, app_push, integration_api, django_assert_num_queries
):
    # given: a campaign open now, whose audience the first claim has read and parsed
    now = timezone.now()
    make_campaign(
        code="now", claim_starts_at=now - timedelta(days=1), claim_ends_at=now + timedelta(days=1)
    )
    CustomerFactory(customer_id="SH-1", city="Shanghai")
    CustomerFactory(customer_id="SH-2", city="Shanghai")
    body = {"campaign": "now", "channel": "app_push", "trigger": "login"}
    first = integration_api.post(
        "/api/v1/claims/", {**body, "customer": "SH-1", "idempotency_key": "a"}, format="json"
    )
    assert first.status_code == 201
    # when / then: the next claim reads the token with its roles, then runs the engine
    with django_assert_num_queries(2) as queries:
        second = integration_api.post(
            "/api/v1/claims/", {**body, "customer": "SH-2", "idempotency_key": "b"}, format="json"
        )
    assert second.status_code == 201
    assert "authtoken_token" in queries.captured_queries[0]["sql"]
    assert queries.captured_queries[1]["sql"].startswith("SELECT * FROM campaigns_claim_coupon(")


def test_claim_follows_an_audience_edited_after_an_earlier_claim(
    make_campaign, shanghai, app_push, as_of
):
    # given: a Beijing customer refused by the Shanghai audience (which the engine now keeps)
    campaign = make_campaign()
    beijing = CustomerFactory(customer_id="BJ-1", city="Beijing")
    with pytest.raises(ClaimRefused) as refusal:
        claim(campaign, beijing, app_push, as_of, key="before")
    assert refusal.value.reason == "not_in_audience"
    # when: the segment is edited to Beijing
    update_segment(
        segment=shanghai,
        rules={"field": "city", "op": "in", "value": ["Beijing"]},
        actor=None,
        now=as_of,
    )
    result = claim(campaign, beijing, app_push, as_of, key="after")
    # then: the edited rules decide at once
    assert result.created is True
    assert [coupon.customer_id for coupon in result.coupons] == [beijing.pk]


def test_holdout_customers_are_exactly_the_ones_the_engine_refuses(make_campaign, app_push, as_of):
    # given: a 50% holdout and 40 audience customers
    campaign = make_campaign(holdout_share=Decimal("0.5"), limit_per_customer=1)
    customers = CustomerFactory.create_batch(40, city="Shanghai")
    # when
    refusals = {}
    for index, customer in enumerate(customers):
        try:
            claim(campaign, customer, app_push, as_of, key=f"k{index}")
        except ClaimRefused as refusal:
            refusals[customer.pk] = refusal.reason
    # then
    held = {
        customer.pk for customer in customers if is_in_holdout(campaign=campaign, customer=customer)
    }
    assert refusals == dict.fromkeys(held, "holdout")
    assert 0 < len(held) < 40


def test_holdout_draw_is_the_first_8_bytes_of_sha256_against_the_share(make_campaign):
    # given: the documented draw, computed here independently of the database
    campaign = make_campaign(holdout_share=Decimal("0.3"))
    customers = CustomerFactory.create_batch(60, city="Shanghai")

    def expected(customer) -> bool:
        digest = hashlib.sha256(f"holdout:{campaign.pk}:{customer.pk}".encode()).digest()
        return int.from_bytes(digest[:8], "big") < Decimal("0.3") * 2**64

    # when / then
    assert [is_in_holdout(campaign=campaign, customer=c) for c in customers] == [
        expected(c) for c in customers
    ]


def test_an_audience_kept_between_claims_is_evaluated_at_each_claims_moment(
    make_campaign, shanghai, app_push, as_of
):
    # given: an audience of customers who ordered in the last 30 days, kept by the engine
    # after a first claim, and two customers whose last order was 10 days before as_of
    update_segment(
        segment=shanghai,
        rules={"field": "days_since_last_order", "op": "lte", "value": 30},
        actor=None,
        now=as_of,
    )
    campaign = make_campaign(claim_ends_at=as_of + timedelta(days=90))
    ordered = as_of - timedelta(days=10)
    early, late = (
        CustomerFactory(city="Shanghai", order_count=1, last_order_at=ordered) for _ in range(2)
    )
    assert claim(campaign, early, app_push, as_of, key="early").created is True
    # when: the other claims 40 days later, when its last order is 50 days old
    with pytest.raises(ClaimRefused) as refusal:
        claim(campaign, late, app_push, as_of + timedelta(days=40), key="late")
    # then: the kept audience was compiled for that moment, not the first claim's
    assert refusal.value.reason == "not_in_audience"
    # ... and at 19 days it still is in
    assert claim(campaign, late, app_push, as_of + timedelta(days=19), key="late-2").created
