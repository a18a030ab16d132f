"""A claim's audience test on a windowed purchase count reads only the claiming customer's
orders (segments.catalogue.CompileContext.only_customer) and still decides exactly: the
customer with 3 paid orders in the last 30 days is granted, the one whose third is 31 days
old, or refunded, is refused `not_in_audience`, and one with 19 recent orders is granted."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.exceptions import ClaimRefused
from campaigns.services.claims import claim_coupon
from segments.services.definitions import create_segment
from tests.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db

THREE_IN_30_DAYS = {"field": "order_count", "op": "gte", "value": 3, "window": {"last_days": 30}}


def shopper(customer_id, as_of, *days, status="paid"):
    customer = CustomerFactory(customer_id=customer_id)
    for n, day in enumerate(days):
        OrderFactory(
            customer=customer,
            placed_at=as_of - timedelta(days=day, hours=1),
            amount=Decimal("50.00"),
            status=status if n == len(days) - 1 else "paid",
        )
    return customer


def claim(campaign, customer_id, as_of):
    return claim_coupon(
        campaign=campaign.code,
        customer=customer_id,
        channel="app_push",
        trigger="login",
        idempotency_key=f"w-{customer_id}",
        now=as_of,
    )


def test_a_windowed_audience_is_decided_for_the_claiming_customer_alone(make_campaign, as_of):
    segment = create_segment(
        name="3+ orders in 30 days", rules=THREE_IN_30_DAYS, actor=None, now=as_of
    )
    campaign = make_campaign(segment=segment)
    shopper("IN", as_of, 1, 5, 29)
    shopper("OLD", as_of, 1, 5, 31)
    shopper("REFUNDED", as_of, 1, 5, 9, status="refunded")
    shopper("HEAVY", as_of, *range(1, 20))

    with CaptureQueriesContext(connection) as queries:
        granted = claim(campaign, "IN", as_of)
    assert granted.created is True
    engine = next(
        q["sql"] for q in queries.captured_queries if "campaigns_claim_coupon" in q["sql"]
    )
    # the orders subquery is cut to the claiming customer
    assert engine.count("'IN'") >= 2
    for customer_id in ("OLD", "REFUNDED"):
        with pytest.raises(ClaimRefused) as refused:
            claim(campaign, customer_id, as_of)
        assert refused.value.reason == "not_in_audience"
    assert claim(campaign, "HEAVY", as_of).created is True
