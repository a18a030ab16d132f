"""Purchase fields compiled to SQL: windows, as_of, zero-order customers, scopes, SQL shape."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from crm.models import Customer
from crm.services.metrics import recompute_customer_metrics
from segments.compiler import compile_rule_tree
from segments.rules import parse_rule_tree
from tests.factories import CustomerFactory, OrderFactory, OrderItemFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


def customer(customer_id: str, *orders: tuple) -> Customer:
    """A customer with orders given as (placed_at, amount) or (placed_at, amount, fields)."""
    person = CustomerFactory(customer_id=customer_id)
    for placed_at, amount, *fields in orders:
        OrderFactory(
            customer=person, placed_at=placed_at, amount=Decimal(amount), **(fields or [{}])[0]
        )
    return person


def sql(rules, as_of, *, as_of_is_now=False) -> str:
    condition = compile_rule_tree(parse_rule_tree(rules), as_of=as_of, as_of_is_now=as_of_is_now)
    return str(Customer.objects.filter(condition).order_by().values("pk").query)


def test_last_days_window_excludes_exactly_n_days_ago_and_anything_after_as_of(matching, as_of):
    # given
    customer("EXACTLY_30_DAYS", (as_of - 30 * DAY, "10"))
    customer("ONE_SECOND_INSIDE", (as_of - 30 * DAY + SECOND, "10"))
    customer("AT_AS_OF", (as_of, "10"))
    customer("AFTER_AS_OF", (as_of + SECOND, "10"))
    rules = {"field": "order_count", "op": "gte", "value": 1, "window": {"last_days": 30}}
    # then
    assert matching(rules) == {"ONE_SECOND_INSIDE", "AT_AS_OF"}
    assert matching(rules, as_of_is_now=True) == {"ONE_SECOND_INSIDE", "AT_AS_OF"}


def test_from_to_window_covers_whole_calendar_days_in_shanghai(matching, as_of):
    # given: Shanghai runs eight hours ahead of UTC
    customer("FEB_LAST_SECOND", (datetime(2026, 2, 28, 23, 59, 59, tzinfo=SHANGHAI), "10"))
    customer("MAR_FIRST", (datetime(2026, 3, 1, 0, 0, tzinfo=SHANGHAI), "10"))
    customer("MAR_LAST_SECOND", (datetime(2026, 3, 31, 23, 59, 59, tzinfo=SHANGHAI), "10"))
    customer("APR_FIRST", (datetime(2026, 4, 1, 0, 0, tzinfo=SHANGHAI), "10"))
    window = {"from": "2026-03-01", "to": "2026-03-31"}
    # then
    assert matching({"field": "order_count", "op": "gte", "value": 1, "window": window}) == {
        "MAR_FIRST",
        "MAR_LAST_SECOND",
    }
    assert matching(
        {"field": "order_count", "op": "gte", "value": 1, "window": {"from": "2026-04-01"}}
    ) == {"APR_FIRST"}
    assert matching(
        {"field": "order_count", "op": "gte", "value": 1, "window": {"to": "2026-02-28"}}
    ) == {"FEB_LAST_SECOND"}


def test_from_to_window_stops_at_as_of(matching, as_of):
    # given: the window runs past as_of
    customer("BEFORE", (as_of - SECOND, "10"))
    customer("AFTER", (as_of + SECOND, "10"))
    rules = {
        "field": "order_count",
        "op": "gte",
        "value": 1,
        "window": {"from": "2026-06-01", "to": "2026-07-31"},
    }
    # then
    assert matching(rules) == {"BEFORE"}


@pytest.mark.parametrize("status", ["refunded", "cancelled"])
def test_only_paid_orders_count(matching, as_of, status):
    # given
    customer("PAID", (as_of - DAY, "10"))
    customer("UNPAID", (as_of - DAY, "10", {"status": status}))
    # then
    assert matching({"field": "order_count", "op": "gte", "value": 1}) == {"PAID"}
    assert matching({"field": "total_spent", "op": "gt", "value": 0}) == {"PAID"}
    assert matching({"field": "bought_in_store", "op": "eq", "value": "S1"}) == set()


@pytest.mark.parametrize("as_of_is_now", [False, True], ids=["explicit-as-of", "stored-columns"])
def test_order_count_zero_and_not_at_least_one_both_match_a_customer_without_orders(
    matching, as_of, as_of_is_now
):
    # given
    customer("NONE")
    customer("ONE", (as_of - 40 * DAY, "10"))
    customer("THREE", *((as_of - day * DAY, "10") for day in (1, 2, 3)))
    recompute_customer_metrics(as_of=as_of)
    # then
    assert matching(
        {"field": "order_count", "op": "eq", "value": 0}, as_of_is_now=as_of_is_now
    ) == {"NONE"}
    assert matching(
        {"not": {"field": "order_count", "op": "gte", "value": 1}}, as_of_is_now=as_of_is_now
    ) == {"NONE"}
    assert matching(
        {"field": "order_count", "op": "lt", "value": 3}, as_of_is_now=as_of_is_now
    ) == {
        "NONE",
        "ONE",
    }
    assert matching(
        {"field": "order_count", "op": "between", "value": [1, 3]}, as_of_is_now=as_of_is_now
    ) == {"ONE", "THREE"}
    windowed = {"field": "order_count", "op": "eq", "value": 0, "window": {"last_days": 30}}
    assert matching(windowed, as_of_is_now=as_of_is_now) == {"NONE", "ONE"}
    assert matching({"not": windowed}, as_of_is_now=as_of_is_now) == {"THREE"}


def test_explicit_past_as_of_ignores_later_orders_that_the_stored_columns_include(matching, as_of):
    # given: metrics computed today include an order placed after the as_of asked about
    customer("C", (as_of - 5 * DAY, "10"), (as_of + 5 * DAY, "30"))
    today = as_of + 10 * DAY
    recompute_customer_metrics(as_of=today)
    # then
    assert matching({"field": "order_count", "op": "eq", "value": 1}) == {"C"}
    assert matching({"field": "total_spent", "op": "eq", "value": 10}) == {"C"}
    assert matching({"field": "last_order_at", "op": "before", "value": "2026-06-30"}) == {"C"}
    assert matching({"field": "days_since_last_order", "op": "eq", "value": 5}) == {"C"}
    assert matching({"field": "order_count", "op": "eq", "value": 2}, at=today) == {"C"}
    assert matching(
        {"field": "order_count", "op": "eq", "value": 2}, at=today, as_of_is_now=True
    ) == {"C"}


def test_total_spent_boundaries_and_window(matching, as_of):
    # given
    customer("NONE")
    customer("EXACT", (as_of - DAY, "60.00"), (as_of - 2 * DAY, "40.00"))
    customer("OLD", (as_of - 40 * DAY, "500.00"), (as_of - DAY, "99.99"))
    # then
    assert matching({"field": "total_spent", "op": "gte", "value": 100}) == {"EXACT", "OLD"}
    assert matching({"field": "total_spent", "op": "gt", "value": "100.00"}) == {"OLD"}
    assert matching(
        {"field": "total_spent", "op": "gte", "value": 100, "window": {"last_days": 30}}
    ) == {"EXACT"}
    assert matching(
        {"field": "total_spent", "op": "lt", "value": 100, "window": {"last_days": 30}}
    ) == {"NONE", "OLD"}
    assert matching({"field": "total_spent", "op": "eq", "value": 0}) == {"NONE"}


def test_total_spent_in_a_category_sums_the_matching_item_lines(matching, as_of):
    # given: one order with nuts 2 x 30 and tea 1 x 50; one old order of nuts
    person = customer("C")
    order = OrderFactory(customer=person, placed_at=as_of - DAY, amount=Decimal("110"))
    OrderItemFactory(order=order, sku="N1", category="nuts", quantity=2, unit_price=Decimal("30"))
    OrderItemFactory(order=order, sku="T1", category="tea", quantity=1, unit_price=Decimal("50"))
    old = OrderFactory(customer=person, placed_at=as_of - 40 * DAY, amount=Decimal("25"))
    OrderItemFactory(order=old, sku="N1", category="nuts", quantity=1, unit_price=Decimal("25"))
    customer("NO_NUTS", (as_of - DAY, "500"))
    # then
    nuts = {"field": "total_spent", "op": "eq", "category": "nuts"}
    assert matching({**nuts, "value": 85}) == {"C"}
    assert matching({**nuts, "value": 60, "window": {"last_days": 30}}) == {"C"}
    assert matching({**nuts, "value": 0}) == {"NO_NUTS"}
    assert matching({"field": "total_spent", "op": "eq", "value": 50, "sku": "T1"}) == {"C"}
    assert matching(
        {"field": "avg_order_value", "op": "eq", "value": "42.5", "category": "nuts"}
    ) == {"C"}
    assert matching({"field": "order_count", "op": "eq", "value": 2, "category": "nuts"}) == {"C"}
    assert matching({"field": "order_count", "op": "eq", "value": 1, "category": "tea"}) == {"C"}


def test_store_and_channel_scopes(matching, as_of):
    # given
    customer("STORE", (as_of - DAY, "10", {"store": "S1", "channel": "store"}))
    customer(
        "APP", (as_of - DAY, "10", {"channel": "app"}), (as_of - DAY, "10", {"channel": "app"})
    )
    # then
    assert matching({"field": "order_count", "op": "gte", "value": 1, "store": "S1"}) == {"STORE"}
    assert matching({"field": "order_count", "op": "eq", "value": 2, "channel": "app"}) == {"APP"}
    assert matching(
        {"field": "order_count", "op": "eq", "value": 0, "channel": "app", "store": "S1"}
    ) == {"STORE", "APP"}


@pytest.mark.parametrize("as_of_is_now", [False, True], ids=["explicit-as-of", "stored-columns"])
def test_avg_order_value_rounds_to_cents_and_not_keeps_customers_without_orders(
    matching, as_of, as_of_is_now
):
    # given: three orders of 100 in all average 33.33 after rounding
    customer("NONE")
    customer("THIRDS", *((as_of - day * DAY, "33.33" if day < 3 else "33.34") for day in (1, 2, 3)))
    customer("TEN", (as_of - DAY, "10"))
    recompute_customer_metrics(as_of=as_of)
    # then
    assert matching(
        {"field": "avg_order_value", "op": "eq", "value": "33.33"}, as_of_is_now=as_of_is_now
    ) == {"THIRDS"}
    assert matching(
        {"field": "avg_order_value", "op": "gt", "value": 10}, as_of_is_now=as_of_is_now
    ) == {"THIRDS"}
    assert matching(
        {"not": {"field": "avg_order_value", "op": "gt", "value": 10}}, as_of_is_now=as_of_is_now
    ) == {"NONE", "TEN"}
    assert matching(
        {"field": "avg_order_value", "op": "lte", "value": 10}, as_of_is_now=as_of_is_now
    ) == {"TEN"}
    assert matching(
        {"field": "avg_order_value", "op": "is_null", "value": True}, as_of_is_now=as_of_is_now
    ) == {"NONE"}


@pytest.mark.parametrize("as_of_is_now", [False, True], ids=["explicit-as-of", "stored-columns"])
def test_first_and_last_order_dates(matching, as_of, as_of_is_now):
    # given
    customer("NONE")
    customer("SPREAD", (datetime(2026, 1, 1, 0, 0, tzinfo=SHANGHAI), "10"), (as_of - DAY, "10"))
    customer("RECENT", (as_of - 30 * DAY + SECOND, "10"))
    customer("BOUNDARY", (as_of - 30 * DAY, "10"))
    recompute_customer_metrics(as_of=as_of)

    def check(rules):
        return matching(rules, as_of_is_now=as_of_is_now)

    # then
    assert check({"field": "first_order_at", "op": "before", "value": "2026-01-02"}) == {"SPREAD"}
    assert check({"field": "first_order_at", "op": "before", "value": "2026-01-01"}) == set()
    assert check({"field": "first_order_at", "op": "after", "value": "2026-05-30"}) == {
        "RECENT",
        "BOUNDARY",
    }
    assert check({"field": "first_order_at", "op": "after", "value": "2026-05-31"}) == set()
    assert check({"field": "last_order_at", "op": "within_last_days", "value": 30}) == {
        "SPREAD",
        "RECENT",
    }
    assert check({"not": {"field": "last_order_at", "op": "within_last_days", "value": 30}}) == {
        "NONE",
        "BOUNDARY",
    }
    assert check({"field": "first_order_at", "op": "is_null", "value": True}) == {"NONE"}
    assert check(
        {"field": "last_order_at", "op": "between", "value": ["2026-05-31", "2026-05-31"]}
    ) == {"BOUNDARY", "RECENT"}


@pytest.mark.parametrize("as_of_is_now", [False, True], ids=["explicit-as-of", "stored-columns"])
def test_days_since_last_order_is_rounded_down(matching, as_of, as_of_is_now):
    # given
    customer("NONE")
    customer("ALMOST_4", (as_of - 4 * DAY + SECOND, "10"))
    customer("EXACTLY_4", (as_of - 4 * DAY, "10"))
    customer("TODAY", (as_of - SECOND, "10"))
    recompute_customer_metrics(as_of=as_of)

    def check(rules):
        return matching(rules, as_of_is_now=as_of_is_now)

    # then
    assert check({"field": "days_since_last_order", "op": "eq", "value": 3}) == {"ALMOST_4"}
    assert check({"field": "days_since_last_order", "op": "eq", "value": 4}) == {"EXACTLY_4"}
    assert check({"field": "days_since_last_order", "op": "eq", "value": 0}) == {"TODAY"}
    assert check({"field": "days_since_last_order", "op": "gte", "value": 4}) == {"EXACTLY_4"}
    assert check({"field": "days_since_last_order", "op": "gt", "value": 3}) == {"EXACTLY_4"}
    assert check({"field": "days_since_last_order", "op": "lt", "value": 4}) == {
        "ALMOST_4",
        "TODAY",
    }
    assert check({"field": "days_since_last_order", "op": "lte", "value": 3}) == {
        "ALMOST_4",
        "TODAY",
    }
    assert check({"field": "days_since_last_order", "op": "between", "value": [1, 4]}) == {
        "ALMOST_4",
        "EXACTLY_4",
    }
    assert check({"field": "days_since_last_order", "op": "ne", "value": 3}) == {
        "NONE",
        "EXACTLY_4",
        "TODAY",
    }
    assert check({"field": "days_since_last_order", "op": "is_null", "value": True}) == {"NONE"}


def test_bought_category_sku_and_store_are_existence_checks(matching, as_of):
    # given
    person = customer("NUTS_RECENT")
    order = OrderFactory(customer=person, placed_at=as_of - DAY, store="S1")
    OrderItemFactory(order=order, sku="N1", category="nuts")
    person = customer("TEA_OLD")
    order = OrderFactory(customer=person, placed_at=as_of - 60 * DAY)
    OrderItemFactory(order=order, sku="T1", category="tea")
    person = customer("NUTS_REFUNDED")
    order = OrderFactory(customer=person, placed_at=as_of - DAY, status="refunded", store="S1")
    OrderItemFactory(order=order, sku="N1", category="nuts")
    customer("NONE")
    # then
    assert matching({"field": "bought_category", "op": "eq", "value": "nuts"}) == {"NUTS_RECENT"}
    assert matching({"field": "bought_category", "op": "in", "value": ["nuts", "tea"]}) == {
        "NUTS_RECENT",
        "TEA_OLD",
    }
    assert (
        matching(
            {"field": "bought_category", "op": "in", "value": ["tea"], "window": {"last_days": 30}}
        )
        == set()
    )
    assert matching({"field": "bought_category", "op": "not_in", "value": ["nuts"]}) == {
        "TEA_OLD",
        "NUTS_REFUNDED",
        "NONE",
    }
    assert matching({"field": "bought_sku", "op": "eq", "value": "T1"}) == {"TEA_OLD"}
    assert matching({"field": "bought_sku", "op": "ne", "value": "T1"}) == {
        "NUTS_RECENT",
        "NUTS_REFUNDED",
        "NONE",
    }
    assert matching({"field": "bought_in_store", "op": "eq", "value": "S1"}) == {"NUTS_RECENT"}


def test_windowed_count_compiles_to_a_semi_join_without_coalesce(as_of):
    # given
    rules = {"field": "order_count", "op": "gte", "value": 3, "window": {"last_days": 30}}
    # when
    query = sql(rules, as_of)
    negated = sql(
        {"field": "order_count", "op": "lt", "value": 3, "window": {"last_days": 30}}, as_of
    )
    # then
    assert '"crm_customer"."id" IN (SELECT' in query
    assert "GROUP BY" in query
    assert "HAVING COUNT" in query
    assert "COALESCE" not in query.upper()
    assert 'NOT ("crm_customer"."id" IN (SELECT' in negated
    assert "COALESCE" not in negated.upper()


def test_existence_compiles_to_exists_and_never_joins_orders_into_the_customer_query(as_of):
    # given
    rules = {
        "all": [
            {"field": "bought_category", "op": "eq", "value": "nuts"},
            {"field": "total_spent", "op": "gte", "value": 10, "category": "nuts"},
            {"field": "event_count", "op": "gte", "value": 1, "kind": "visit"},
        ]
    }
    # when
    query = sql(rules, as_of)
    outer = query.split(" WHERE ", 1)[0]
    # then
    assert "EXISTS(SELECT" in query
    assert outer == 'SELECT "crm_customer"."id" AS "pk" FROM "crm_customer"'
    assert "COALESCE" not in query.upper()


def test_unwindowed_count_reads_the_stored_column_only_when_as_of_is_now(as_of):
    # given
    rules = {"field": "order_count", "op": "gte", "value": 3}
    # then
    assert sql(rules, as_of, as_of_is_now=True).endswith('WHERE "crm_customer"."order_count" >= 3')
    assert "crm_order" in sql(rules, as_of)
