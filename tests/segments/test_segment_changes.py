"""Creating, changing, duplicating and deleting segments through
segments.services.definitions."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from campaigns.models import Campaign
from crm.core.api import DomainRefusal
from crm.core.models import AuditEntry, Job
from segments.enums import SegmentKind
from segments.models import Segment, SegmentMember, SegmentSizeSnapshot
from segments.rules import RuleError, SegmentCycleError, canonical_rules
from segments.services.definitions import (
    create_segment,
    delete_segment,
    duplicate_segment,
    update_segment,
)
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

SHANGHAI = {"field": "city", "op": "eq", "value": "Shanghai"}
BEIJING = {"field": "city", "op": "in", "value": ["Beijing"]}


def segment_with(rules, name="Shanghai", kind=SegmentKind.DYNAMIC) -> Segment:
    return Segment.objects.create(name=name, kind=kind, rules=canonical_rules(rules))


def test_creates_a_segment_with_canonical_rules_an_audit_row_and_a_first_refresh(
    marketer, as_of, django_capture_on_commit_callbacks
):
    # given
    CustomerFactory(customer_id="C1", city="Shanghai")
    CustomerFactory(customer_id="C2", city="Beijing")
    rules = {"any": [{"value": ["Shanghai", "Beijing"], "op": "in", "field": "city"}]}
    # when
    with django_capture_on_commit_callbacks(execute=True):
        segment = create_segment(name="  Big cities ", rules=rules, actor=marketer, now=as_of)
    # then
    segment.refresh_from_db()
    assert (segment.name, segment.kind, segment.created_by, segment.updated_by) == (
        "Big cities",
        "dynamic",
        marketer,
        marketer,
    )
    assert segment.rules == {
        "any": [{"field": "city", "op": "in", "value": ["Beijing", "Shanghai"]}]
    }
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_type, entry.object_id, entry.actor, entry.at) == (
        "segment.create",
        "segment",
        str(segment.pk),
        marketer,
        as_of,
    )
    assert entry.changes == {
        "name": [None, "Big cities"],
        "kind": [None, "dynamic"],
        "rules": [None, segment.rules],
    }
    job = Job.objects.get()
    assert (job.kind, job.status, job.label, job.created_by) == (
        "segment_refresh",
        "succeeded",
        f"Segment #{segment.pk} refresh: Big cities",
        marketer,
    )
    assert segment.member_count == 2


@pytest.mark.parametrize(
    ("rules", "path", "message"),
    [
        pytest.param(
            {"all": []}, "", '"all" group is empty; add at least one condition', id="empty"
        ),
        pytest.param(
            {"all": [SHANGHAI, {"field": "shoe_size", "op": "eq", "value": 42}]},
            "all[1]",
            'unknown field "shoe_size"',
            id="unknown-field",
        ),
        pytest.param(
            {"any": [{"not": {"field": "city", "op": "gte", "value": "A"}}]},
            "any[0].not",
            'field "city" does not accept operator "gte" (accepted: eq, ne, in, not_in, is_null)',
            id="wrong-operator",
        ),
    ],
)
def test_refuses_invalid_rules_at_the_node_and_stores_nothing(
    marketer, as_of, rules, path, message
):
    # when
    with pytest.raises(RuleError) as refused:
        create_segment(name="Bad", rules=rules, actor=marketer, now=as_of)
    # then
    assert (refused.value.path, refused.value.message) == (path, message)
    assert Segment.objects.count() == 0
    assert AuditEntry.objects.count() == 0
    assert Job.objects.count() == 0


def test_refuses_a_blank_name_and_stores_nothing(marketer, as_of):
    # when
    with pytest.raises(ValidationError) as refused:
        create_segment(name="   ", rules=SHANGHAI, actor=marketer, now=as_of)
    # then
    assert refused.value.message_dict == {"name": ["This field cannot be blank."]}
    assert (Segment.objects.count(), AuditEntry.objects.count(), Job.objects.count()) == (0, 0, 0)


def test_update_audits_only_what_changed_and_refreshes_when_rules_change(marketer, as_of):
    # given
    segment = segment_with(SHANGHAI)
    # when
    update_segment(segment=segment, name="Shanghai", rules=BEIJING, actor=marketer, now=as_of)
    # then
    segment.refresh_from_db()
    assert segment.rules == canonical_rules(BEIJING)
    assert segment.updated_by == marketer
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.changes) == (
        "segment.update",
        {"rules": [canonical_rules(SHANGHAI), canonical_rules(BEIJING)]},
    )
    assert list(Job.objects.values_list("kind", "status")) == [("segment_refresh", "pending")]


def test_update_that_changes_nothing_writes_nothing(marketer, as_of):
    # given
    segment = segment_with(SHANGHAI)
    updated_at = segment.updated_at
    # when
    update_segment(
        segment=segment,
        name="Shanghai",
        rules={"value": "Shanghai", "op": "eq", "field": "city"},
        actor=marketer,
        now=as_of,
    )
    # then
    segment.refresh_from_db()
    assert segment.updated_at == updated_at
    assert (AuditEntry.objects.count(), Job.objects.count()) == (0, 0)


def test_update_refuses_an_in_segment_cycle_and_keeps_the_rules(marketer, as_of):
    # given: B uses A
    first = segment_with(SHANGHAI, name="A")
    second = segment_with({"field": "in_segment", "op": "eq", "value": first.pk}, name="B")
    # when: A would use B
    with pytest.raises(SegmentCycleError) as refused:
        update_segment(
            segment=first,
            rules={"all": [SHANGHAI, {"field": "in_segment", "op": "eq", "value": second.pk}]},
            actor=marketer,
            now=as_of,
        )
    # then
    assert (refused.value.path, refused.value.message) == (
        "all[1]",
        'in_segment would make a cycle: "A" -> "B" -> "A"',
    )
    first.refresh_from_db()
    assert first.rules == canonical_rules(SHANGHAI)
    assert (AuditEntry.objects.count(), Job.objects.count()) == (0, 0)


def test_update_refuses_to_make_an_uploaded_list_dynamic(marketer, as_of):
    # given
    segment = Segment.objects.create(name="Guests", kind=SegmentKind.SNAPSHOT, rules={})
    # when
    with pytest.raises(ValidationError) as refused:
        update_segment(segment=segment, kind=SegmentKind.DYNAMIC, actor=marketer, now=as_of)
    # then
    assert refused.value.message_dict == {
        "kind": ["An uploaded list has no rules, so it can only be a snapshot."]
    }
    segment.refresh_from_db()
    assert segment.kind == "snapshot"
    assert AuditEntry.objects.count() == 0


def test_duplicates_a_dynamic_segment_with_its_rules(marketer, as_of):
    # given
    original = segment_with(SHANGHAI, name="Shanghai")
    # when
    copy = duplicate_segment(segment=original, actor=marketer, now=as_of)
    # then
    assert (copy.name, copy.kind, copy.rules, copy.created_by) == (
        "Copy of Shanghai",
        "dynamic",
        original.rules,
        marketer,
    )
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_id, entry.changes) == (
        "segment.duplicate",
        str(copy.pk),
        {"duplicate_of": [None, original.pk], "name": [None, "Copy of Shanghai"]},
    )


def test_duplicates_a_snapshot_with_its_frozen_members(marketer, as_of):
    # given
    first, second = CustomerFactory(customer_id="C1"), CustomerFactory(customer_id="C2")
    original = Segment.objects.create(name="Guests", kind=SegmentKind.SNAPSHOT, rules={})
    for customer in (first, second):
        SegmentMember.objects.create(segment=original, customer=customer, added_at=as_of)
    # when
    copy = duplicate_segment(segment=original, name="Guests again", actor=marketer, now=as_of)
    # then
    assert set(copy.members.values_list("customer__customer_id", flat=True)) == {"C1", "C2"}
    assert (copy.name, copy.kind, copy.member_count, copy.last_refreshed_at) == (
        "Guests again",
        "snapshot",
        2,
        as_of,
    )
    assert list(copy.size_history.values_list("at", "size")) == [(as_of, 2)]
    assert original.members.count() == 2


def test_deletes_an_unused_segment_with_members_and_history(marketer, as_of):
    # given
    segment = Segment.objects.create(name="Guests", kind=SegmentKind.SNAPSHOT, rules={})
    SegmentMember.objects.create(segment=segment, customer=CustomerFactory(), added_at=as_of)
    SegmentSizeSnapshot.objects.create(segment=segment, at=as_of, size=1)
    segment_id = segment.pk
    # when
    delete_segment(segment=segment, actor=marketer, now=as_of)
    # then
    assert Segment.objects.count() == 0
    assert (SegmentMember.objects.count(), SegmentSizeSnapshot.objects.count()) == (0, 0)
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_id, entry.changes) == (
        "segment.delete",
        str(segment_id),
        {"name": ["Guests", None]},
    )


def test_refuses_to_delete_a_segment_another_segment_uses_and_names_it(marketer, as_of):
    # given
    used = segment_with(SHANGHAI, name="Shanghai")
    segment_with({"field": "in_segment", "op": "in", "value": [used.pk]}, name="VIP Shanghai")
    # when
    with pytest.raises(DomainRefusal) as refused:
        delete_segment(segment=used, actor=marketer, now=as_of)
    # then
    assert (refused.value.reason, refused.value.detail) == (
        "segment_in_use",
        'Segment "Shanghai" is used by segment "VIP Shanghai"; remove it from there first.',
    )
    assert Segment.objects.count() == 2
    assert AuditEntry.objects.count() == 0


def test_refuses_to_delete_a_campaign_audience_and_names_the_campaign(marketer, as_of):
    # given
    used = segment_with(SHANGHAI, name="Shanghai")
    Campaign.objects.create(
        code="summer-snacks",
        name="Summer snacks",
        business_line="snacks",
        segment=used,
        claim_starts_at=as_of,
        claim_ends_at=as_of + timedelta(days=7),
        stock=100,
        budget=Decimal("1000"),
    )
    # when
    with pytest.raises(DomainRefusal) as refused:
        delete_segment(segment=used, actor=marketer, now=as_of)
    # then
    assert refused.value.detail == (
        'Segment "Shanghai" is used by campaign summer-snacks; remove it from there first.'
    )
    assert Segment.objects.filter(pk=used.pk).exists()
    assert AuditEntry.objects.count() == 0
