"""Sibling aggregate conditions of an AllOf share one GROUP BY: same customers, NOT exact,
customers without orders, window edges, and the last order answered from a windowed group."""

from datetime import timedelta
from decimal import Decimal

import pytest

from crm.models import Customer
from crm.services.metrics import recompute_customer_metrics
from segments.compiler import compile_rule_tree
from segments.rules import parse_rule_tree
from tests.factories import BehaviourEventFactory, CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db

SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
HALF_YEAR = {"last_days": 180}
EVERYONE = {
    "NONE",
    "BOTH",
    "COUNT_ONLY",
    "SPEND_ONLY",
    "ONE_ON_THE_EDGE",
    "ONE_AFTER_AS_OF",
}


def customer(customer_id: str, *orders: tuple) -> Customer:
    """A customer with paid orders given as (placed_at, amount)."""
    person = CustomerFactory(customer_id=customer_id)
    for placed_at, amount in orders:
        OrderFactory(customer=person, placed_at=placed_at, amount=Decimal(amount))
    return person


def sql(rules, as_of, *, as_of_is_now=False) -> str:
    condition = compile_rule_tree(parse_rule_tree(rules), as_of=as_of, as_of_is_now=as_of_is_now)
    return str(Customer.objects.filter(condition).order_by().values("pk").query)


@pytest.fixture
def spenders(as_of):
    """Customers around "3+ orders and 500+ spent in the last 180 days"."""
    customer("NONE")
    customer("BOTH", *((as_of - day * DAY, "200") for day in (1, 2, 179)))
    customer("COUNT_ONLY", *((as_of - day * DAY, "100") for day in (1, 2, 3)))
    customer("SPEND_ONLY", (as_of - DAY, "900"))
    # The third order is exactly 180 days before as_of, so outside the window.
    customer("ONE_ON_THE_EDGE", *((as_of - day * DAY, "300") for day in (1, 2, 180)))
    customer(
        "ONE_AFTER_AS_OF", (as_of - DAY, "300"), (as_of - 2 * DAY, "300"), (as_of + SECOND, "300")
    )
    recompute_customer_metrics(as_of=as_of)


def count_and_spend(count_op: str, count: int, spend_op: str, spend: str) -> dict:
    return {
        "all": [
            {"field": "order_count", "op": count_op, "value": count, "window": HALF_YEAR},
            {"field": "total_spent", "op": spend_op, "value": spend, "window": HALF_YEAR},
        ]
    }


@pytest.mark.parametrize("as_of_is_now", [False, True], ids=["explicit-as-of", "now"])
def test_count_and_spend_in_the_same_window_select_the_customers_meeting_both(
    matching, spenders, as_of_is_now
):
    # given
    rules = count_and_spend("gte", 3, "gte", "500")
    # when
    found = matching(rules, as_of_is_now=as_of_is_now)
    negated = matching({"not": rules}, as_of_is_now=as_of_is_now)
    # then
    assert found == {"BOTH"}
    assert negated == EVERYONE - {"BOTH"}


def test_count_and_spend_in_the_same_window_compile_to_one_group_with_both_in_having(as_of):
    # given
    rules = count_and_spend("gte", 3, "gte", "500")
    # when
    query = sql(rules, as_of, as_of_is_now=True)
    # then
    assert query.count("GROUP BY") == 1
    assert query.count('"crm_customer"."id" IN (SELECT') == 1
    assert 'HAVING (COUNT(U0."id") >= 3 AND SUM(U0."amount") >= 500)' in query
    assert "EXISTS" not in query


def test_conditions_met_without_orders_merge_into_the_complement_and_keep_no_order_customers(
    matching, spenders
):
    # given: fewer than 3 orders and at most 500 spent, both met by a customer without orders
    rules = count_and_spend("lt", 3, "lte", "500")
    # when
    found = matching(rules)
    negated = matching({"not": rules})
    # then
    assert found == {"NONE"}
    assert negated == EVERYONE - {"NONE"}


def test_a_positive_condition_merged_with_one_met_without_orders_drops_no_order_customers(
    matching, spenders
):
    # given: at least 1 order (met by nobody without orders) and less than 500 spent (met by
    # everyone without orders)
    rules = count_and_spend("gte", 1, "lt", "500")
    # when
    found = matching(rules)
    negated = matching({"not": rules})
    # then
    assert found == {"COUNT_ONLY"}
    assert negated == EVERYONE - {"COUNT_ONLY"}


def test_not_and_negative_operators_inside_the_group_merge_exactly(matching, spenders, as_of):
    # given: 3+ orders, but NOT 500+ spent, and an order count other than 4
    rules = {
        "all": [
            {"field": "order_count", "op": "gte", "value": 3, "window": HALF_YEAR},
            {"not": {"field": "total_spent", "op": "gte", "value": "500", "window": HALF_YEAR}},
            {"field": "order_count", "op": "ne", "value": 4, "window": HALF_YEAR},
        ]
    }
    # when
    found = matching(rules)
    negated = matching({"not": rules})
    query = sql(rules, as_of)
    # then
    assert found == {"COUNT_ONLY"}
    assert negated == EVERYONE - {"COUNT_ONLY"}
    assert query.count("GROUP BY") == 1


def test_only_conditions_over_the_same_rows_merge(matching, spenders, as_of):
    # given: the spend is over a different window than the count
    rules = {
        "all": [
            {"field": "order_count", "op": "gte", "value": 3, "window": HALF_YEAR},
            {"field": "total_spent", "op": "gte", "value": "500", "window": {"last_days": 181}},
        ]
    }
    # when
    found = matching(rules)
    query = sql(rules, as_of)
    # then: ONE_ON_THE_EDGE has 900 within 181 days but only 2 orders within 180
    assert found == {"BOTH"}
    assert query.count("GROUP BY") == 2


def test_existence_alone_stays_exists_and_contradictions_select_nobody(matching, spenders, as_of):
    # given
    exists_twice = {
        "all": [
            {"field": "order_count", "op": "gte", "value": 1, "window": HALF_YEAR},
            {"not": {"field": "order_count", "op": "eq", "value": 0, "window": HALF_YEAR}},
        ]
    }
    contradiction = count_and_spend("eq", 0, "gte", "1")
    # when
    query = sql(exists_twice, as_of)
    # then: nothing to group, so no GROUP BY
    assert "GROUP BY" not in query
    assert matching(exists_twice) == EVERYONE - {"NONE"}
    assert matching(contradiction) == set()
    assert matching({"not": contradiction}) == EVERYONE


def test_event_counts_of_the_same_kind_and_window_merge(matching, as_of):
    # given
    for customer_id, visits in (("NONE", 0), ("TWO", 2), ("FIVE", 5)):
        person = CustomerFactory(customer_id=customer_id)
        for number in range(visits):
            BehaviourEventFactory(customer=person, kind="visit", occurred_at=as_of - number * DAY)
    visits = {"field": "event_count", "kind": "visit", "window": {"last_days": 30}}
    rules = {"all": [{**visits, "op": "gte", "value": 2}, {**visits, "op": "lte", "value": 4}]}
    # when
    found = matching(rules)
    negated = matching({"not": rules})
    query = sql(rules, as_of)
    # then
    assert found == {"TWO"}
    assert negated == {"NONE", "FIVE"}
    assert query.count("GROUP BY") == 1


@pytest.fixture
def recent_buyers(as_of):
    """Customers around "2+ orders in the last 60 days and the last one at most 14 days ago"
    (days since last order: whole days, rounded down)."""
    customer("NONE")
    customer("LAST_15_DAYS_AGO", (as_of - 15 * DAY, "10"), (as_of - 20 * DAY, "10"))
    customer("LAST_A_SECOND_LATER", (as_of - 15 * DAY + SECOND, "10"), (as_of - 20 * DAY, "10"))
    customer("ONE_IN_WINDOW", (as_of - DAY, "10"), (as_of - 60 * DAY, "10"))
    customer("ONE_RECENT_ONE_AFTER", (as_of - DAY, "10"), (as_of + SECOND, "10"))
    customer("TODAY_TWICE", (as_of, "10"), (as_of - SECOND, "10"))


def recent(days_op: str, days: int) -> dict:
    return {
        "all": [
            {"field": "order_count", "op": "gte", "value": 2, "window": {"last_days": 60}},
            {"field": "days_since_last_order", "op": days_op, "value": days},
        ]
    }


def test_days_since_last_order_merged_with_a_windowed_count_keeps_the_day_boundaries(
    matching, recent_buyers, as_of
):
    # given
    rules = recent("lte", 14)
    # when
    found = matching(rules)
    negated = matching({"not": rules})
    query = sql(rules, as_of)
    # then: exactly 15 whole days is out, a second less is in
    assert found == {"LAST_A_SECOND_LATER", "TODAY_TWICE"}
    assert negated == {"NONE", "LAST_15_DAYS_AGO", "ONE_IN_WINDOW", "ONE_RECENT_ONE_AFTER"}
    assert query.count("GROUP BY") == 1
    assert 'HAVING (COUNT(U0."id") >= 2 AND MAX(U0."placed_at") > ' in query
    assert "EXISTS" not in query


def test_days_since_last_order_reaching_past_the_window_is_not_answered_from_it(
    matching, recent_buyers, as_of
):
    # given: the last order may be up to 60 days ago, reaching outside (as_of - 60 days, ...]
    inside = recent("lte", 58)
    on_the_edge = recent("lte", 59)
    outside = recent("lte", 60)
    # when
    found = [matching(rules) for rules in (inside, on_the_edge, outside)]
    # then: 59 days or less means after as_of - 60 days, which the window covers exactly
    assert found == [
        {"LAST_15_DAYS_AGO", "LAST_A_SECOND_LATER", "TODAY_TWICE"},
        {"LAST_15_DAYS_AGO", "LAST_A_SECOND_LATER", "TODAY_TWICE"},
        {"LAST_15_DAYS_AGO", "LAST_A_SECOND_LATER", "TODAY_TWICE"},
    ]
    assert "EXISTS" not in sql(on_the_edge, as_of)
    assert "EXISTS" in sql(outside, as_of)


def test_days_since_last_order_at_least_n_needs_the_whole_history(matching, recent_buyers, as_of):
    # given: "at least 15 days" is about orders the 60-day window does not hold
    rules = recent("gte", 15)
    # when
    found = matching(rules)
    negated = matching({"not": rules})
    # then
    assert found == {"LAST_15_DAYS_AGO"}
    assert negated == {
        "NONE",
        "LAST_A_SECOND_LATER",
        "ONE_IN_WINDOW",
        "ONE_RECENT_ONE_AFTER",
        "TODAY_TWICE",
    }
    assert "EXISTS" in sql(rules, as_of)


def test_last_and_first_order_dates_merge_with_an_unwindowed_count(matching, as_of):
    # given
    customer("NONE")
    customer("OLD_AND_RECENT", (as_of - 100 * DAY, "10"), (as_of - DAY, "10"))
    customer("RECENT_TWICE", (as_of - 2 * DAY, "10"), (as_of - DAY, "10"))
    customer("OLD_TWICE", (as_of - 100 * DAY, "10"), (as_of - 90 * DAY, "10"))
    rules = {
        "all": [
            {"field": "order_count", "op": "gte", "value": 2},
            {"field": "last_order_at", "op": "within_last_days", "value": 30},
            {"not": {"field": "first_order_at", "op": "within_last_days", "value": 30}},
        ]
    }
    # when
    found = matching(rules)
    negated = matching({"not": rules})
    query = sql(rules, as_of)
    # then
    assert found == {"OLD_AND_RECENT"}
    assert negated == {"NONE", "RECENT_TWICE", "OLD_TWICE"}
    assert query.count("GROUP BY") == 1
    assert "MIN(" in query
    assert "MAX(" in query
