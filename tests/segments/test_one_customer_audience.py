"""A rule tree compiled for one customer (`only_customer`, the claim engine's audience test)
decides that customer exactly as the whole segment's membership does, for rules over every
per-customer row set (windowed and unwindowed orders, order lines, events; merged groups,
NOT forms that match customers without rows, nested AnyOf/Not), over random customers; and
the claim API grants or refuses by it. The expected side is the full membership query,
whose correctness the compiler's own tests hold against hand-computed sets."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.models import Customer
from crm.services.metrics import recompute_customer_metrics
from segments.compiler import compile_rule_tree
from segments.rules import parse_rule_tree
from tests.factories import (
    BehaviourEventFactory,
    CustomerFactory,
    OrderFactory,
    OrderItemFactory,
)

pytestmark = pytest.mark.django_db

RULES = [
    {"field": "order_count", "op": "gte", "value": 3, "window": {"last_days": 30}},
    {"field": "order_count", "op": "lt", "value": 2, "window": {"last_days": 90}},
    {
        "all": [
            {"field": "order_count", "op": "gte", "value": 2, "window": {"last_days": 180}},
            {"field": "total_spent", "op": "gte", "value": 300, "window": {"last_days": 180}},
        ]
    },
    {"field": "avg_order_value", "op": "between", "value": [50, 150]},
    {"field": "days_since_last_order", "op": "lte", "value": 20},
    {"field": "bought_category", "op": "in", "value": ["nuts", "tea"]},
    {
        "any": [
            {
                "field": "event_count",
                "op": "gte",
                "value": 2,
                "kind": "add_to_cart",
                "window": {"last_days": 14},
            },
            {"not": {"field": "event_count", "op": "gte", "value": 1, "kind": "visit"}},
        ]
    },
    {
        "all": [
            {"field": "order_count", "op": "eq", "value": 0, "window": {"last_days": 7}},
            {"field": "event_count", "op": "gte", "value": 1, "window": {"last_days": 7}},
            {"field": "order_count", "op": "gte", "value": 1},
        ]
    },
]


@pytest.fixture
def shoppers():
    """60 customers with random paid and refunded orders (some with lines), visits and
    add-to-carts over the last 120 days, and a few with nothing."""
    rng = random.Random(11)
    now = timezone.now()
    for n in range(60):
        customer = CustomerFactory(customer_id=f"Q{n:02d}")
        for _ in range(rng.randrange(0, 12) if n % 10 else 0):
            order = OrderFactory(
                customer=customer,
                placed_at=now - timedelta(days=rng.randrange(120), hours=rng.randrange(24)),
                amount=Decimal(rng.randrange(20, 300)),
                status="refunded" if rng.random() < 0.15 else "paid",
            )
            if rng.random() < 0.5:
                OrderItemFactory(order=order, category=rng.choice(["nuts", "tea", "fruit"]))
        for _ in range(rng.randrange(0, 5)):
            BehaviourEventFactory(
                customer=customer,
                kind=rng.choice(["visit", "add_to_cart", "login"]),
                occurred_at=now - timedelta(days=rng.randrange(30), hours=rng.randrange(24)),
            )
    recompute_customer_metrics(as_of=now)
    return now


@pytest.mark.parametrize("rules", RULES)
def test_one_customer_is_decided_as_the_whole_segment_decides(shoppers, rules):
    node = parse_rule_tree(rules)
    members = set(
        Customer.objects.filter(
            compile_rule_tree(node, as_of=shoppers, as_of_is_now=True)
        ).values_list("customer_id", flat=True)
    )
    assert 0 < len(members) < 60, "the rule should split the shoppers"

    for customer_id in Customer.objects.values_list("customer_id", flat=True):
        alone = compile_rule_tree(
            node, as_of=shoppers, as_of_is_now=True, only_customer=customer_id
        )
        found = Customer.objects.filter(alone, customer_id=customer_id).exists()
        assert found == (customer_id in members), (customer_id, rules)


def test_the_one_customer_query_reads_only_that_customers_rows(shoppers):
    node = parse_rule_tree(RULES[0])
    alone = compile_rule_tree(node, as_of=shoppers, as_of_is_now=True, only_customer="Q01")
    sql = str(Customer.objects.filter(alone, customer_id="Q01").values("pk").query)

    assert sql.count("Q01") == 2  # the outer query's and the orders'
