"""Purchase metrics, automatic labels and preference labels against hand-computed values."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Customer, LifecycleSettings
from crm.services.metrics import recompute_customer_metrics
from tests.factories import CustomerFactory, OrderFactory, OrderItemFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
AS_OF = datetime(2026, 6, 30, 23, 0, tzinfo=SHANGHAI)


@pytest.fixture
def shopper():
    """Hand-computed fixture (times in Shanghai, the operator's zone).

    paid      2026-06-06 Sat 09:30  app    120.50  coupon   nuts 2 x 40.25, tea 1 x 40.00
    paid      2026-06-13 Sat 10:15  app     79.50           tea 1 x 79.50
    paid      2026-06-17 Wed 20:00  store  300.00           gift_box 1 x 300.00
    refunded  2026-06-20            app   1000.00           (never counts)
    cancelled 2026-06-21            app     50.00           (never counts)
    paid      2026-07-02            app     10.00           (after as_of: does not count)
    """
    customer = CustomerFactory(customer_id="HAND-1")
    rows = [
        (datetime(2026, 6, 6, 9, 30, tzinfo=SHANGHAI), "app", "120.50", "paid", "SPRING5"),
        (datetime(2026, 6, 13, 10, 15, tzinfo=SHANGHAI), "app", "79.50", "paid", ""),
        (datetime(2026, 6, 17, 20, 0, tzinfo=SHANGHAI), "store", "300.00", "paid", ""),
        (datetime(2026, 6, 20, 12, 0, tzinfo=SHANGHAI), "app", "1000.00", "refunded", ""),
        (datetime(2026, 6, 21, 12, 0, tzinfo=SHANGHAI), "app", "50.00", "cancelled", ""),
        (datetime(2026, 7, 2, 12, 0, tzinfo=SHANGHAI), "app", "10.00", "paid", ""),
    ]
    orders = [
        OrderFactory(
            customer=customer,
            placed_at=placed,
            channel=channel,
            amount=Decimal(amount),
            status=status,
            coupon_code=coupon,
        )
        for placed, channel, amount, status, coupon in rows
    ]
    OrderItemFactory(order=orders[0], sku="N1", category="nuts", quantity=2, unit_price="40.25")
    OrderItemFactory(order=orders[0], sku="T1", category="tea", quantity=1, unit_price="40.00")
    OrderItemFactory(order=orders[1], sku="T2", category="tea", quantity=1, unit_price="79.50")
    OrderItemFactory(order=orders[2], sku="G1", category="gift_box", quantity=1, unit_price="300")
    OrderItemFactory(order=orders[3], sku="G2", category="gift_box", quantity=4, unit_price="250")
    return customer


def test_purchase_metrics_count_paid_orders_up_to_as_of(shopper):
    # when
    recompute_customer_metrics(as_of=AS_OF)
    # then
    shopper.refresh_from_db()
    assert shopper.order_count == 3
    assert shopper.total_spent == Decimal("500.00")
    assert shopper.avg_order_value == Decimal("166.67")
    assert shopper.first_order_at == datetime(2026, 6, 6, 9, 30, tzinfo=SHANGHAI)
    assert shopper.last_order_at == datetime(2026, 6, 17, 20, 0, tzinfo=SHANGHAI)


def test_automatic_labels(shopper):
    # when
    recompute_customer_metrics(as_of=AS_OF)
    # then: 500.00 is exactly the medium threshold
    shopper.refresh_from_db()
    assert (shopper.is_returning, shopper.value_tier) == (True, "medium")


def test_value_tier_thresholds_are_configurable(shopper):
    # given
    LifecycleSettings.objects.update_or_create(
        pk=1, defaults={"medium_value_min_spent": Decimal("100"), "high_value_min_spent": 500}
    )
    # when
    recompute_customer_metrics(as_of=AS_OF)
    # then
    shopper.refresh_from_db()
    assert shopper.value_tier == "high"


def test_preference_labels(shopper):
    # when
    recompute_customer_metrics(as_of=AS_OF)
    # then: gift_box 300 > tea 119.50 > nuts 80.50; 1 of 3 orders used a coupon;
    # app 2 orders vs store 1; 2 of 3 on a Saturday; mornings 2 of 3 (Shanghai time)
    shopper.refresh_from_db()
    assert shopper.preferred_category == "gift_box"
    assert shopper.promotion_sensitivity == Decimal("0.3333")
    assert shopper.preferred_channel == "app"
    assert shopper.weekend_buyer is True
    assert shopper.usual_daypart == "morning"


def test_customer_without_orders_has_empty_metrics():
    # given
    customer = CustomerFactory()
    # when
    recompute_customer_metrics(as_of=AS_OF)
    # then
    customer.refresh_from_db()
    assert (
        customer.order_count,
        customer.total_spent,
        customer.avg_order_value,
        customer.first_order_at,
        customer.value_tier,
        customer.preferred_category,
        customer.promotion_sensitivity,
        customer.weekend_buyer,
        customer.rfm_group,
    ) == (0, Decimal("0.00"), None, None, "none", "", None, None, "")


def test_scoped_recompute_touches_only_the_given_customers(shopper):
    # given
    other = CustomerFactory()
    OrderFactory(customer=other, placed_at=AS_OF - timedelta(days=1))
    # when
    result = recompute_customer_metrics(as_of=AS_OF, customer_ids=[shopper.pk])
    # then
    other.refresh_from_db()
    shopper.refresh_from_db()
    assert (result.customers_in_scope, result.customers_updated) == (1, 1)
    assert (shopper.order_count, other.order_count) == (3, 0)


def test_rerun_with_nothing_new_writes_no_row(shopper):
    # given
    recompute_customer_metrics(as_of=AS_OF)
    before = Customer.objects.get(pk=shopper.pk).updated_at
    # when
    result = recompute_customer_metrics(as_of=AS_OF)
    # then
    assert (result.customers_updated, result.stage_changes) == (0, 0)
    assert Customer.objects.get(pk=shopper.pk).updated_at == before


def test_new_order_is_picked_up_by_the_next_recompute(shopper):
    # given
    recompute_customer_metrics(as_of=AS_OF)
    OrderFactory(customer=shopper, placed_at=AS_OF - timedelta(hours=1), amount=Decimal("1600"))
    # when
    result = recompute_customer_metrics(as_of=AS_OF, customer_ids=[shopper.pk])
    # then
    shopper.refresh_from_db()
    assert result.customers_updated == 1
    assert (shopper.order_count, shopper.total_spent, shopper.value_tier) == (
        4,
        Decimal("2100.00"),
        "high",
    )


def test_statement_count_does_not_grow_with_customers():
    # given: the same work for 3 and for 30 customers, after a first run created settings
    recompute_customer_metrics(as_of=AS_OF)

    def statements_for(count: int) -> int:
        for _ in range(count):
            OrderFactory(placed_at=AS_OF - timedelta(days=3))
        with CaptureQueriesContext(connection) as queries:
            recompute_customer_metrics(as_of=AS_OF)
        return len(queries)

    # when
    small = statements_for(3)
    large = statements_for(27)
    # then: set-based, not one statement per customer
    assert small == large
