"""Rule trees read back as English sentences."""

import pytest

from segments.describe import describe_rule_tree
from segments.enums import SegmentKind
from segments.models import Segment
from segments.rules import parse_rule_tree

pytestmark = pytest.mark.django_db


def describe(rules) -> str:
    return describe_rule_tree(parse_rule_tree(rules))


def test_describes_the_spec_example():
    # given
    rules = {
        "all": [
            {"field": "order_count", "op": "gte", "value": 3, "window": {"last_days": 30}},
            {
                "any": [
                    {"field": "city", "op": "in", "value": ["Shanghai", "Beijing"]},
                    {"field": "tag", "op": "has", "value": "vip"},
                ]
            },
            {"not": {"field": "lifecycle_stage", "op": "in", "value": ["churned", "silent"]}},
        ]
    }
    # then
    assert describe(rules) == (
        "Customers who ordered at least 3 times in the last 30 days"
        " and (in Shanghai or Beijing or tagged vip)"
        " and whose lifecycle stage is neither churned nor silent"
    )


@pytest.mark.parametrize(
    ("rules", "sentence"),
    [
        pytest.param(
            {"field": "order_count", "op": "eq", "value": 0, "window": {"last_days": 1}},
            "Customers who placed no order in the last day",
            id="no-order",
        ),
        pytest.param(
            {"field": "order_count", "op": "lt", "value": 1, "store": "S1"},
            "Customers who placed no order in store S1",
            id="scope",
        ),
        pytest.param(
            {"field": "total_spent", "op": "between", "value": ["100.00", 500]},
            "Customers who spent between 100 and 500",
            id="spent",
        ),
        pytest.param(
            {
                "field": "event_count",
                "op": "gte",
                "value": 1,
                "kind": "add_to_cart",
                "window": {"from": "2026-03-01", "to": "2026-03-31"},
            },
            "Customers with at least 1 add to cart event from 2026-03-01 to 2026-03-31",
            id="events",
        ),
        pytest.param(
            {"field": "days_since_last_order", "op": "gt", "value": 30},
            "Customers whose last order was more than 30 days ago",
            id="recency",
        ),
        pytest.param(
            {"field": "age", "op": "between", "value": [20, 30]},
            "Customers whose age is between 20 and 30",
            id="generic-between",
        ),
        pytest.param(
            {"field": "registered_at", "op": "before", "value": "2026-01-01"},
            "Customers whose registration date is before 2026-01-01",
            id="generic-date",
        ),
        pytest.param(
            {"field": "gender", "op": "is_null", "value": True},
            "Customers whose gender is unknown",
            id="unknown",
        ),
        pytest.param(
            {"not": {"field": "avg_order_value", "op": "gt", "value": "10.50"}},
            "Customers not (whose average order value is more than 10.5)",
            id="not-of-a-comparison",
        ),
        pytest.param(
            {"not": {"field": "tag", "op": "has", "value": "vip"}},
            "Customers not tagged vip",
            id="not-of-has",
        ),
        pytest.param(
            {
                "any": [
                    {"field": "consent", "op": "has", "value": "sms"},
                    {"field": "is_member", "op": "eq", "value": True},
                ]
            },
            "Customers who consented to sms or who are members",
            id="any",
        ),
        pytest.param(
            {
                "not": {
                    "all": [
                        {"field": "birth_month", "op": "in", "value": [3, 4]},
                        {
                            "field": "bought_category",
                            "op": "eq",
                            "value": "nuts",
                            "window": {"last_days": 30},
                        },
                    ]
                }
            },
            "Customers not (born in March or April"
            " and who bought from category nuts in the last 30 days)",
            id="not-of-a-group",
        ),
        pytest.param(
            {"field": "rfm_group", "op": "in", "value": ["champions", "loyal", "at_risk"]},
            "Customers whose RFM group is one of champions, loyal, at risk",
            id="choice-labels",
        ),
    ],
)
def test_describes_each_shape(rules, sentence):
    assert describe(rules) == sentence


def test_describes_segment_references_by_name():
    # given
    vip = Segment.objects.create(name="VIP", kind=SegmentKind.SNAPSHOT)
    # then
    assert describe({"field": "in_segment", "op": "not_in", "value": [vip.pk]}) == (
        'Customers not in segment "VIP"'
    )
