"""First-order gifts (SPEC §4): granted when a customer's first paid order, placed after the
campaign started, arrives through an import or the API; never for imported history."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from campaigns.models import Grant
from campaigns.services.first_order_gifts import grant_first_order_gifts
from campaigns.tasks import grant_first_order_gifts_task
from crm.models import Order
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")
STARTS = datetime(2026, 6, 1, tzinfo=UTC)
NOW = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def first_order_campaign(make_campaign):
    return make_campaign(
        code="welcome",
        trigger="first_order",
        claim_starts_at=STARTS,
        claim_ends_at=STARTS + timedelta(days=60),
        daily_limit_per_customer=1,
        limit_per_customer=1,
    )


def first_order_gift_due(orders: list[dict], start: datetime, now: datetime) -> bool:
    """SPEC §4 by hand: the customer's first paid order is placed at or after the start
    (and by now)."""
    paid = sorted(order["placed_at"] for order in orders if order["status"] == "paid")
    return bool(paid) and start <= paid[0] <= now


def granted() -> list[tuple[str, str]]:
    return sorted(Grant.objects.values_list("customer__customer_id", "idempotency_key"))


def test_orders_arriving_through_the_api_grant_only_real_first_orders(
    first_order_campaign, integration_api
):
    # given Shanghai customers (the segment) whose orders arrive through the bulk API:
    # a new one, one with history placed before the start, one whose only order is
    # refunded, one whose first order was placed before the start but imported now
    for customer_id in ("NEW", "REGULAR", "REFUNDED", "LATE-HISTORY"):
        CustomerFactory(customer_id=customer_id, city="Shanghai")
    CustomerFactory(customer_id="AWAY", city="Beijing")
    orders = [
        {"order_id": "O1", "customer_id": "NEW", "placed_at": "2026-06-10T10:00:00Z"},
        {"order_id": "O2", "customer_id": "REGULAR", "placed_at": "2026-03-01T10:00:00Z"},
        {"order_id": "O3", "customer_id": "REGULAR", "placed_at": "2026-06-11T10:00:00Z"},
        {
            "order_id": "O4",
            "customer_id": "REFUNDED",
            "placed_at": "2026-06-12T10:00:00Z",
            "status": "refunded",
        },
        {"order_id": "O5", "customer_id": "LATE-HISTORY", "placed_at": "2026-05-31T23:59:59Z"},
        {"order_id": "O6", "customer_id": "AWAY", "placed_at": "2026-06-13T10:00:00Z"},
    ]
    response = integration_api.post(
        "/api/v1/orders/bulk/",
        {"items": [{"amount": "50.00", "status": "paid", **order} for order in orders]},
        format="json",
    )

    # when the minute's run comes, and comes again
    first = grant_first_order_gifts(now=NOW)
    second = grant_first_order_gifts(now=NOW + timedelta(minutes=1))

    # then only NEW gets the gift, once
    stored = {}
    for order in Order.objects.select_related("customer"):
        stored.setdefault(order.customer.customer_id, []).append(
            {"placed_at": order.placed_at, "status": order.status}
        )
    expected = sorted(
        (customer_id, f"first-order-{customer_id}")
        for customer_id, placed in stored.items()
        if customer_id != "AWAY" and first_order_gift_due(placed, STARTS, NOW)
    )
    assert response.status_code == 200
    assert expected == [("NEW", "first-order-NEW")]
    assert granted() == expected
    assert (first.granted, second.granted) == (1, 0)


def test_an_order_placed_after_now_waits_and_a_later_one_never_counts_twice(
    first_order_campaign,
):
    # given a customer whose first paid order is placed tomorrow (a pre-order's time)
    customer = CustomerFactory(customer_id="SOON", city="Shanghai")
    Order.objects.create(
        order_id="P1", customer=customer, placed_at=NOW + timedelta(days=1), amount=50
    )

    # when the run comes today, tomorrow, and the day after with a second order
    today = grant_first_order_gifts(now=NOW)
    tomorrow = grant_first_order_gifts(now=NOW + timedelta(days=1, hours=1))
    Order.objects.create(
        order_id="P2", customer=customer, placed_at=NOW + timedelta(days=2), amount=80
    )
    later = grant_first_order_gifts(now=NOW + timedelta(days=2, hours=1))

    # then once, the day its order was placed
    assert (today.granted, tomorrow.granted, later.granted) == (0, 1, 0)
    assert granted() == [("SOON", "first-order-SOON")]


def test_the_task_runs_the_service_at_now(make_campaign):
    # given a campaign that started an hour ago and a first order placed since
    now = timezone.now()
    make_campaign(
        code="welcome",
        trigger="first_order",
        claim_starts_at=now - timedelta(hours=1),
        claim_ends_at=now + timedelta(days=1),
    )
    customer = CustomerFactory(customer_id="FRESH", city="Shanghai")
    Order.objects.create(
        order_id="F1", customer=customer, placed_at=now - timedelta(minutes=5), amount=50
    )

    # when
    result = grant_first_order_gifts_task.apply().get()

    # then
    assert result == {"granted": 1, "refused": {}}
    assert granted() == [("FRESH", "first-order-FRESH")]


def test_the_claims_api_refuses_the_first_order_trigger(first_order_campaign, integration_api):
    # given
    CustomerFactory(customer_id="A", city="Shanghai")

    # when
    response = integration_api.post(
        "/api/v1/claims/",
        {
            "campaign": "welcome",
            "customer": "A",
            "channel": "app_push",
            "trigger": "first_order",
            "idempotency_key": "k",
        },
        format="json",
    )

    # then
    assert response.status_code == 400
    assert response.json() == {"trigger": ['"first_order" is not a valid choice.']}
    assert granted() == []
