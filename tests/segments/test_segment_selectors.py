"""Segment reads: preview, members, membership test and overlap, all from the one compiler."""

from datetime import timedelta

import pytest

from crm.models import Customer
from segments.enums import SegmentKind
from segments.models import Segment, SegmentMember
from segments.rules import RuleError, SegmentCycleError, canonical_rules
from segments.selectors import segment_members, segment_overlap, segment_preview
from tests.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
SHANGHAI = {"field": "city", "op": "eq", "value": "Shanghai"}


def dynamic(name: str, rules) -> Segment:
    return Segment.objects.create(name=name, rules=canonical_rules(rules))


def test_preview_counts_matching_and_all_customers_with_a_stable_sample(as_of):
    # given: 12 customers in Shanghai, 3 in Beijing
    for number in range(12):
        CustomerFactory(customer_id=f"SH{number:02d}", city="Shanghai")
    for number in range(3):
        CustomerFactory(customer_id=f"BJ{number:02d}", city="Beijing")
    # when
    preview = segment_preview(rules=SHANGHAI, as_of=as_of, sample_size=4)
    # then
    assert preview["count"] == 12
    assert preview["total"] == 15
    assert [customer.customer_id for customer in preview["sample"]] == [
        "SH00",
        "SH01",
        "SH02",
        "SH03",
    ]


def test_preview_refuses_invalid_rules(as_of):
    # when
    with pytest.raises(RuleError) as caught:
        segment_preview(rules={"all": []}, as_of=as_of)
    # then
    assert caught.value.path == ""
    assert caught.value.message == '"all" group is empty; add at least one condition'


def test_preview_of_edited_rules_refuses_a_reference_back_to_the_segment(as_of):
    # given
    segment = dynamic("Shanghai", SHANGHAI)
    # when
    with pytest.raises(SegmentCycleError):
        segment_preview(
            rules={"field": "in_segment", "op": "eq", "value": segment.pk},
            as_of=as_of,
            segment=segment,
        )


def test_dynamic_members_are_evaluated_as_of_the_moment_asked(as_of):
    # given: one customer ordered 5 days before as_of, the other 5 days after
    early, late = CustomerFactory(customer_id="EARLY"), CustomerFactory(customer_id="LATE")
    OrderFactory(customer=early, placed_at=as_of - 5 * DAY)
    OrderFactory(customer=late, placed_at=as_of + 5 * DAY)
    segment = dynamic(
        "Recent buyers",
        {"field": "order_count", "op": "gte", "value": 1, "window": {"last_days": 7}},
    )
    # when
    then_members = segment_members(segment=segment, as_of=as_of)
    later_members = segment_members(segment=segment, as_of=as_of + 6 * DAY)
    # then
    assert [customer.customer_id for customer in then_members] == ["EARLY"]
    assert [customer.customer_id for customer in later_members] == ["LATE"]


def test_snapshot_members_are_the_frozen_list(as_of):
    # given
    # OTHER exists but is not on the uploaded list
    kept = CustomerFactory(customer_id="KEPT")
    CustomerFactory(customer_id="OTHER")
    snapshot = Segment.objects.create(name="Uploaded", kind=SegmentKind.SNAPSHOT)
    SegmentMember.objects.create(segment=snapshot, customer=kept, added_at=as_of)
    # when
    members = segment_members(segment=snapshot, as_of=as_of - 30 * DAY)
    # then
    assert list(members) == [kept]


def test_overlap_counts_each_segment_and_both(as_of):
    # given
    for customer_id, city, is_member in [
        ("A", "Shanghai", True),
        ("B", "Shanghai", False),
        ("C", "Beijing", True),
        ("D", "Beijing", False),
    ]:
        CustomerFactory(customer_id=customer_id, city=city, is_member=is_member)
    shanghai = dynamic("Shanghai", SHANGHAI)
    members = Segment.objects.create(name="Members list", kind=SegmentKind.SNAPSHOT)
    for customer in Customer.objects.filter(is_member=True):
        SegmentMember.objects.create(segment=members, customer=customer, added_at=as_of)
    # when
    overlap = segment_overlap(first=shanghai, second=members, as_of=as_of)
    # then
    assert overlap == {"first": 2, "second": 2, "both": 1}
