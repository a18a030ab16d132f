"""Label fields in SQL: stored labels at now, labels from the orders in the past, in_segment."""

from datetime import timedelta
from decimal import Decimal

import pytest

from crm.models import Customer, StageChange
from segments.enums import SegmentKind
from segments.models import Segment, SegmentMember
from segments.rules import canonical_rules
from tests.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


def customers(**by_id) -> dict[str, Customer]:
    return {
        customer_id: CustomerFactory(customer_id=customer_id, **fields)
        for customer_id, fields in by_id.items()
    }


def test_lifecycle_stage_now_reads_the_stored_column(matching):
    # given
    customers(N={"lifecycle_stage": "new"}, C={"lifecycle_stage": "churned"}, P={})
    # then
    rules = {"field": "lifecycle_stage", "op": "in", "value": ["new", "potential"]}
    assert matching(rules, as_of_is_now=True) == {"N", "P"}
    assert matching({"not": rules}, as_of_is_now=True) == {"C"}


def test_a_past_stage_comes_from_the_orders_never_from_the_history_or_the_stored_column(
    matching, as_of
):
    # given: the stored column and the stage history both say "new" for everyone, while the
    # orders say otherwise at as_of (history imported today has no recorded stage moves)
    people = customers(
        CHURNED={"lifecycle_stage": "new"},
        NEW={"lifecycle_stage": "new"},
        LATER={"lifecycle_stage": "new"},
    )
    for customer in people.values():
        StageChange.objects.create(
            customer=customer, from_stage="", to_stage="new", changed_at=as_of - 200 * DAY
        )
    OrderFactory(customer=people["CHURNED"], placed_at=as_of - 91 * DAY)
    OrderFactory(customer=people["NEW"], placed_at=as_of - DAY)
    OrderFactory(customer=people["LATER"], placed_at=as_of + SECOND)
    # then
    assert matching({"field": "lifecycle_stage", "op": "eq", "value": "churned"}) == {"CHURNED"}
    assert matching({"field": "lifecycle_stage", "op": "eq", "value": "new"}) == {"NEW"}
    assert matching({"field": "lifecycle_stage", "op": "eq", "value": "potential"}) == {"LATER"}
    assert matching({"field": "lifecycle_stage", "op": "ne", "value": "new"}) == {
        "CHURNED",
        "LATER",
    }


def test_rfm_group_and_value_tier_now_read_the_stored_columns(matching):
    # given
    customers(
        CH={"rfm_group": "champions", "value_tier": "high"},
        AR={"rfm_group": "at_risk", "value_tier": "low"},
        NONE={"rfm_group": "", "value_tier": "none"},
    )
    # then
    assert matching(
        {"field": "rfm_group", "op": "eq", "value": "champions"}, as_of_is_now=True
    ) == {"CH"}
    assert matching(
        {"field": "rfm_group", "op": "not_in", "value": ["champions"]}, as_of_is_now=True
    ) == {
        "AR",
        "NONE",
    }
    assert matching({"field": "rfm_group", "op": "is_null", "value": True}, as_of_is_now=True) == {
        "NONE"
    }
    assert matching(
        {"field": "value_tier", "op": "in", "value": ["high", "low"]}, as_of_is_now=True
    ) == {
        "CH",
        "AR",
    }


@pytest.mark.parametrize("field", ["preferred_category", "preferred_channel"])
def test_preference_labels_now_read_the_stored_columns(matching, field):
    # given
    customers(A={field: "nuts"}, B={field: "tea"}, U={field: ""})
    # then
    assert matching({"field": field, "op": "eq", "value": "nuts"}, as_of_is_now=True) == {"A"}
    assert matching({"field": field, "op": "ne", "value": "nuts"}, as_of_is_now=True) == {"B", "U"}
    assert matching({"field": field, "op": "is_null", "value": True}, as_of_is_now=True) == {"U"}


def test_promotion_sensitivity_not_keeps_customers_without_orders(matching):
    # given
    customers(
        HIGH={"promotion_sensitivity": Decimal("0.8")},
        EDGE={"promotion_sensitivity": Decimal("0.5")},
        LOW={"promotion_sensitivity": Decimal("0")},
        UNKNOWN={"promotion_sensitivity": None},
    )
    # then
    assert matching(
        {"field": "promotion_sensitivity", "op": "gt", "value": "0.5"}, as_of_is_now=True
    ) == {"HIGH"}
    assert matching(
        {"field": "promotion_sensitivity", "op": "gte", "value": 0.5}, as_of_is_now=True
    ) == {
        "HIGH",
        "EDGE",
    }
    assert matching(
        {"not": {"field": "promotion_sensitivity", "op": "gt", "value": "0.5"}}, as_of_is_now=True
    ) == {
        "EDGE",
        "LOW",
        "UNKNOWN",
    }
    assert matching(
        {"field": "promotion_sensitivity", "op": "is_null", "value": True}, as_of_is_now=True
    ) == {"UNKNOWN"}


def test_weekend_buyer_not_keeps_unknowns(matching):
    # given
    customers(WE={"weekend_buyer": True}, WD={"weekend_buyer": False}, U={"weekend_buyer": None})
    # then
    assert matching({"field": "weekend_buyer", "op": "eq", "value": True}, as_of_is_now=True) == {
        "WE"
    }
    assert matching({"field": "weekend_buyer", "op": "eq", "value": False}, as_of_is_now=True) == {
        "WD"
    }
    assert matching(
        {"not": {"field": "weekend_buyer", "op": "eq", "value": True}}, as_of_is_now=True
    ) == {"WD", "U"}
    assert matching(
        {"field": "weekend_buyer", "op": "is_null", "value": False}, as_of_is_now=True
    ) == {"WE", "WD"}


def test_in_segment_dynamic_compiles_the_referenced_rules(matching):
    # given: "Shanghai members" references "Shanghai"
    customers(
        SH_MEMBER={"city": "Shanghai", "is_member": True},
        SH={"city": "Shanghai"},
        BJ_MEMBER={"city": "Beijing", "is_member": True},
    )
    shanghai = Segment.objects.create(
        name="Shanghai", rules=canonical_rules({"field": "city", "op": "eq", "value": "Shanghai"})
    )
    shanghai_members = Segment.objects.create(
        name="Shanghai members",
        rules=canonical_rules(
            {
                "all": [
                    {"field": "in_segment", "op": "eq", "value": shanghai.pk},
                    {"field": "is_member", "op": "eq", "value": True},
                ]
            }
        ),
    )
    # then
    assert matching({"field": "in_segment", "op": "eq", "value": shanghai_members.pk}) == {
        "SH_MEMBER"
    }
    assert matching({"field": "in_segment", "op": "ne", "value": shanghai_members.pk}) == {
        "SH",
        "BJ_MEMBER",
    }
    assert matching({"field": "in_segment", "op": "in", "value": [shanghai.pk]}) == {
        "SH_MEMBER",
        "SH",
    }


def test_in_segment_snapshot_uses_the_frozen_members(matching, as_of):
    # given: the snapshot was frozen when A and B matched; B has moved to Beijing since
    people = customers(A={"city": "Shanghai"}, B={"city": "Beijing"}, C={"city": "Shanghai"})
    snapshot = Segment.objects.create(name="March list", kind=SegmentKind.SNAPSHOT)
    for customer_id in ("A", "B"):
        SegmentMember.objects.create(
            segment=snapshot, customer=people[customer_id], added_at=as_of - DAY
        )
    # then
    assert matching({"field": "in_segment", "op": "eq", "value": snapshot.pk}) == {"A", "B"}
    assert matching({"field": "in_segment", "op": "not_in", "value": [snapshot.pk]}) == {"C"}
    assert matching(
        {
            "all": [
                {"field": "in_segment", "op": "eq", "value": snapshot.pk},
                {"field": "city", "op": "eq", "value": "Shanghai"},
            ]
        }
    ) == {"A"}
