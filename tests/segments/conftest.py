"""Helpers of the segment tests: evaluate rules through the public compiler."""

import pytest

from crm.models import Customer
from segments.compiler import compile_rule_tree
from segments.rules import parse_rule_tree


@pytest.fixture
def matching(as_of):
    """customer_ids matching a SPEC §2 rule tree (as_of defaults to the fixed `as_of`)."""

    def evaluate(rules, *, at=None, as_of_is_now=False) -> set[str]:
        node = parse_rule_tree(rules)
        condition = compile_rule_tree(node, as_of=at or as_of, as_of_is_now=as_of_is_now)
        return set(Customer.objects.filter(condition).values_list("customer_id", flat=True))

    return evaluate
