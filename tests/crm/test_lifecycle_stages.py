"""The seven lifecycle rules of SPEC §1, each at its boundary, first matching rule wins."""

from datetime import timedelta
from decimal import Decimal

import pytest

from crm.models import Customer, LifecycleSettings, StageChange
from crm.services.metrics import recompute_customer_metrics
from tests.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db

SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


def customer_with_orders(*ages: timedelta, status: str = "paid", as_of) -> Customer:
    customer = CustomerFactory()
    for age in ages:
        OrderFactory(customer=customer, placed_at=as_of - age, status=status)
    return customer


def stage_of(customer: Customer) -> str:
    customer.refresh_from_db()
    return customer.lifecycle_stage


def test_customer_without_orders_is_potential(as_of):
    # given
    customer = CustomerFactory()
    # when
    recompute_customer_metrics(as_of=as_of)
    # then
    assert stage_of(customer) == "potential"


@pytest.mark.parametrize("status", ["refunded", "cancelled"])
def test_customer_with_only_unpaid_orders_is_potential(as_of, status):
    # given
    customer = customer_with_orders(2 * DAY, status=status, as_of=as_of)
    # when
    recompute_customer_metrics(as_of=as_of)
    # then
    assert stage_of(customer) == "potential"


def test_order_placed_after_as_of_does_not_count(as_of):
    # given: the only order comes one second after the moment asked about
    customer = customer_with_orders(-SECOND, as_of=as_of)
    # when
    recompute_customer_metrics(as_of=as_of)
    # then
    assert stage_of(customer) == "potential"


@pytest.mark.parametrize(
    ("last_order_age", "expected"),
    [
        pytest.param(90 * DAY + SECOND, "churned", id="just-over-90-days-churned"),
        pytest.param(90 * DAY, "silent", id="exactly-90-days-not-churned"),
        pytest.param(30 * DAY + SECOND, "silent", id="just-over-30-days-silent"),
    ],
)
def test_churned_and_silent_boundaries(as_of, last_order_age, expected):
    # given: first order long ago so `new` can never match
    customer = customer_with_orders(200 * DAY, last_order_age, as_of=as_of)
    # when
    recompute_customer_metrics(as_of=as_of)
    # then
    assert stage_of(customer) == expected


def test_last_order_exactly_30_days_ago_is_not_silent(as_of):
    # given: one order 200 days ago, one exactly 30 days ago (in the previous window)
    customer = customer_with_orders(200 * DAY, 30 * DAY, as_of=as_of)
    # when
    recompute_customer_metrics(as_of=as_of)
    # then: 0 orders in (as_of-30d, as_of] < 1 in the window before
    assert stage_of(customer) == "declining"


@pytest.mark.parametrize(
    ("first_order_age", "expected"),
    [
        pytest.param(30 * DAY - SECOND, "new", id="first-order-inside-30-days"),
        pytest.param(30 * DAY, "declining", id="first-order-exactly-30-days-ago"),
    ],
)
def test_new_boundary(as_of, first_order_age, expected):
    # given
    customer = customer_with_orders(first_order_age, as_of=as_of)
    # when
    recompute_customer_metrics(as_of=as_of)
    # then
    assert stage_of(customer) == expected


def test_new_wins_over_mature_for_a_first_time_heavy_buyer(as_of):
    # given: six orders, all in the last ten days
    customer = customer_with_orders(*(day * DAY for day in range(1, 7)), as_of=as_of)
    # when
    recompute_customer_metrics(as_of=as_of)
    # then: rule 4 comes before rule 5
    assert stage_of(customer) == "new"


@pytest.mark.parametrize(
    ("recent_orders", "expected"),
    [
        pytest.param(5, "mature", id="five-recent-orders"),
        pytest.param(4, "growing", id="four-recent-orders"),
    ],
)
def test_mature_boundary(as_of, recent_orders, expected):
    # given: an old first order, one order in the previous window, N in the current one
    ages = [100 * DAY, 45 * DAY, *(day * DAY for day in range(1, recent_orders + 1))]
    customer = customer_with_orders(*ages, as_of=as_of)
    # when
    recompute_customer_metrics(as_of=as_of)
    # then
    assert stage_of(customer) == expected


@pytest.mark.parametrize(
    ("recent", "previous", "expected"),
    [
        pytest.param(1, 2, "declining", id="fewer-than-before"),
        pytest.param(2, 2, "growing", id="as-many-as-before"),
        pytest.param(3, 2, "growing", id="more-than-before"),
    ],
)
def test_declining_and_growing(as_of, recent, previous, expected):
    # given
    ages = [
        100 * DAY,
        *(day * DAY for day in range(1, recent + 1)),
        *((31 + day) * DAY for day in range(previous)),
    ]
    customer = customer_with_orders(*ages, as_of=as_of)
    # when
    recompute_customer_metrics(as_of=as_of)
    # then
    assert stage_of(customer) == expected


def test_thresholds_come_from_lifecycle_settings(as_of):
    # given: churn after 40 days instead of 90
    LifecycleSettings.objects.update_or_create(pk=1, defaults={"churn_days": 40})
    customer = customer_with_orders(200 * DAY, 41 * DAY, as_of=as_of)
    # when
    recompute_customer_metrics(as_of=as_of)
    # then
    assert stage_of(customer) == "churned"


def test_stage_is_evaluated_as_of_a_past_moment(as_of):
    # given: orders 100 and 5 days before as_of
    customer = customer_with_orders(100 * DAY, 5 * DAY, as_of=as_of)
    # when: asked 20 days earlier, only the first order existed (80 days old then)
    recompute_customer_metrics(as_of=as_of - 20 * DAY)
    # then
    assert stage_of(customer) == "silent"
    customer.refresh_from_db()
    assert customer.order_count == 1


def test_stage_changes_are_recorded_once(as_of):
    # given
    customer = customer_with_orders(10 * DAY, as_of=as_of)
    recompute_customer_metrics(as_of=as_of)
    # when: 25 days later the customer has gone silent; the rerun changes nothing
    later = as_of + 25 * DAY
    first = recompute_customer_metrics(as_of=later)
    rerun = recompute_customer_metrics(as_of=later)
    # then
    changes = list(
        StageChange.objects.filter(customer=customer)
        .order_by("changed_at")
        .values_list("from_stage", "to_stage", "changed_at")
    )
    assert changes == [("potential", "new", as_of), ("new", "silent", later)]
    assert (first.customers_updated, first.stage_changes) == (1, 1)
    assert (rerun.customers_updated, rerun.stage_changes) == (0, 0)


def test_refunded_amounts_never_count(as_of):
    # given
    customer = customer_with_orders(3 * DAY, as_of=as_of)
    OrderFactory(customer=customer, placed_at=as_of - DAY, amount=Decimal("999"), status="refunded")
    # when
    recompute_customer_metrics(as_of=as_of)
    # then
    customer.refresh_from_db()
    assert (customer.order_count, customer.total_spent) == (1, Decimal("100.00"))
