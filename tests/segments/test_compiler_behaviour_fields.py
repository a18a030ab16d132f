"""Behaviour fields compiled to SQL: event counts by kind and window, zero-event customers."""

from datetime import timedelta

import pytest

from crm.models import Customer
from tests.factories import BehaviourEventFactory, CustomerFactory

pytestmark = pytest.mark.django_db

SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


def customer_with_events(customer_id: str, *events: tuple) -> Customer:
    """Events given as (kind, occurred_at)."""
    person = CustomerFactory(customer_id=customer_id)
    for kind, occurred_at in events:
        BehaviourEventFactory(customer=person, kind=kind, occurred_at=occurred_at)
    return person


def test_event_count_by_kind_and_of_any_kind(matching, as_of):
    # given
    customer_with_events("CARTS", ("add_to_cart", as_of - DAY), ("add_to_cart", as_of - 2 * DAY))
    customer_with_events("VISIT_AND_CART", ("visit", as_of - DAY), ("add_to_cart", as_of - DAY))
    customer_with_events("NONE")
    # then
    carts = {"field": "event_count", "kind": "add_to_cart"}
    assert matching({**carts, "op": "gte", "value": 2}) == {"CARTS"}
    assert matching({**carts, "op": "eq", "value": 1}) == {"VISIT_AND_CART"}
    assert matching({**carts, "op": "eq", "value": 0}) == {"NONE"}
    assert matching({**carts, "op": "lt", "value": 2}) == {"VISIT_AND_CART", "NONE"}
    assert matching({"field": "event_count", "op": "eq", "value": 2}) == {
        "CARTS",
        "VISIT_AND_CART",
    }
    assert matching({"field": "event_count", "op": "between", "value": [0, 1]}) == {"NONE"}
    assert matching({"not": {**carts, "op": "gte", "value": 1}}) == {"NONE"}


def test_event_window_edges_and_events_after_as_of(matching, as_of):
    # given
    customer_with_events("EXACTLY_7_DAYS", ("visit", as_of - 7 * DAY))
    customer_with_events("INSIDE", ("visit", as_of - 7 * DAY + SECOND))
    customer_with_events("AFTER_AS_OF", ("visit", as_of + SECOND))
    rules = {
        "field": "event_count",
        "op": "gte",
        "value": 1,
        "kind": "visit",
        "window": {"last_days": 7},
    }
    # then
    assert matching(rules) == {"INSIDE"}
    assert matching({"field": "event_count", "op": "gte", "value": 1}) == {
        "EXACTLY_7_DAYS",
        "INSIDE",
    }
    assert matching({"field": "event_count", "op": "ne", "value": 0}, at=as_of + DAY) == {
        "EXACTLY_7_DAYS",
        "INSIDE",
        "AFTER_AS_OF",
    }


def test_added_to_cart_but_did_not_order(matching, as_of):
    # given
    customer_with_events("CART_ONLY", ("add_to_cart", as_of - DAY))
    buyer = customer_with_events("CART_AND_ORDER", ("add_to_cart", as_of - DAY))
    buyer.orders.create(order_id="O1", placed_at=as_of - DAY, amount=10)
    rules = {
        "all": [
            {
                "field": "event_count",
                "op": "gte",
                "value": 1,
                "kind": "add_to_cart",
                "window": {"last_days": 7},
            },
            {"field": "order_count", "op": "eq", "value": 0, "window": {"last_days": 7}},
        ]
    }
    # then
    assert matching(rules) == {"CART_ONLY"}
