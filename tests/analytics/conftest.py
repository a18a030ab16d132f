"""The campaign fixtures of tests/campaigns, for the reports on those campaigns, and the
customer base's fixture (tests/analytics/test_customer_base.py says what it holds)."""

import random
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from campaigns.models import Message
from campaigns.services.claims import claim_coupon
from crm.models import BehaviourEvent, Customer, Order
from segments.models import Segment
from segments.rules import canonical_rules
from tests import reference_measures as reference
from tests.campaigns.conftest import (  # noqa: F401 - fixtures, found by name
    app_push,
    fresh_cache,
    homepage,
    lenient_harassment_rules,
    make_campaign,
    make_template,
    push_campaign,
    shanghai,
    wechat,
)
from tests.factories import CustomerFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 3, 1, tzinfo=SHANGHAI)
END = datetime(2026, 7, 1, tzinfo=SHANGHAI)


@pytest.fixture
def base(make_campaign, app_push, lenient_harassment_rules):  # noqa: F811 - fixtures
    """40 customers with random paid and refunded orders from 2025-09 to 2026-08, some
    registered late, some in Beijing; events, messages and grants in and around the
    period."""
    rng = random.Random(7)
    customers, orders = [], {}
    for n in range(40):
        registered = datetime(2025, 6, 1, tzinfo=SHANGHAI) + timedelta(days=rng.randrange(400))
        customer = CustomerFactory(
            customer_id=f"K{n:02d}",
            city="Beijing" if n % 4 == 0 else "Shanghai",
            registered_at=None if n % 9 == 0 else registered,
        )
        customers.append(customer)
        orders[customer.pk] = []
        for k in range(rng.randrange(6)):
            placed = datetime(2025, 9, 1, 10, tzinfo=SHANGHAI) + timedelta(
                days=rng.randrange(340), hours=rng.randrange(14)
            )
            status = "refunded" if rng.random() < 0.15 else "paid"
            amount = Decimal(rng.randrange(1000, 40000)) / 100
            Order.objects.create(
                order_id=f"K{n:02d}-{k}",
                customer=customer,
                placed_at=placed,
                amount=amount,
                status=status,
            )
            orders[customer.pk].append(reference.PlacedOrder(placed, amount, status))
    # An order at the period's very start and one at its very end (the next day's first).
    edge = customers[1]
    for order_id, moment in (("EDGE-1", START), ("EDGE-2", END)):
        Order.objects.create(
            order_id=order_id, customer=edge, placed_at=moment, amount=Decimal("50.00")
        )
        orders[edge.pk].append(reference.PlacedOrder(moment, Decimal("50.00")))
    events = []  # (customer pk, kind, moment)
    for n, kind in enumerate(["visit", "favorite", "add_to_cart", "login", "visit", "share"]):
        for moment in (START + timedelta(days=10 * n), END + timedelta(days=n)):
            customer = customers[(3 * n + 2) % 40]
            BehaviourEvent.objects.create(customer=customer, kind=kind, occurred_at=moment)
            events.append((customer.pk, kind, moment))
    campaign = make_campaign(
        claim_starts_at=datetime(2026, 2, 1, tzinfo=SHANGHAI),
        claim_ends_at=datetime(2026, 8, 1, tzinfo=SHANGHAI),
        limit_per_customer=5,
    )
    reached = []  # (customer pk, moment) of messages sent and grants
    for n, moment in enumerate(
        [START - timedelta(days=3), START + timedelta(days=4), START + timedelta(days=50)]
    ):
        customer = customers[5 + 2 * n]
        claim_coupon(
            campaign=campaign.code,
            customer=customer.customer_id,
            channel="app_push",
            trigger="login",
            idempotency_key=f"b{n}",
            now=moment,
        )
        reached.append((customer.pk, moment))
    for n, (status, moment) in enumerate(
        [("sent", START + timedelta(days=20)), ("failed", START + timedelta(days=21))]
    ):
        customer = customers[20 + n]
        Message.objects.create(
            campaign=campaign,
            customer=customer,
            channel=app_push,
            status=status,
            created_at=moment,
            due_at=moment,
            sent_at=moment if status == "sent" else None,
            failed_at=moment if status == "failed" else None,
        )
        if status == "sent":
            reached.append((customer.pk, moment))
    shanghai_buyers = Segment.objects.create(
        name="Shanghai buyers",
        rules=canonical_rules({"field": "city", "op": "in", "value": ["Shanghai"]}),
    )
    return {
        "customers": {c.pk: c for c in Customer.objects.all()},
        "orders": orders,
        "events": events,
        "reached": reached,
        "segment": shanghai_buyers,
    }
