"""The segments admin: rules shown read-only, renames through the service (audited), the
refresh action, members read-only."""

import pytest
from django.urls import reverse

from crm.core.models import AuditEntry, Job
from segments.enums import SegmentKind
from segments.models import Segment, SegmentMember
from segments.rules import canonical_rules
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

SHANGHAI = {"field": "city", "op": "eq", "value": "Shanghai"}


def test_change_page_shows_the_rules_as_json_and_renames_through_the_service(client, admin_user):
    # given
    segment = Segment.objects.create(name="Shanghai", rules=canonical_rules(SHANGHAI))
    client.force_login(admin_user)
    url = reverse("admin:segments_segment_change", args=[segment.pk])
    # when
    page = client.get(url).content.decode()
    response = client.post(
        url,
        {
            "name": "Shanghai shoppers",
            "description": "by city",
            "size_history-TOTAL_FORMS": "0",
            "size_history-INITIAL_FORMS": "0",
        },
    )
    # then
    assert "&quot;field&quot;: &quot;city&quot;" in page
    assert response.status_code == 302
    segment.refresh_from_db()
    assert (segment.name, segment.description, segment.rules) == (
        "Shanghai shoppers",
        "by city",
        canonical_rules(SHANGHAI),
    )
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.changes) == (
        "segment.update",
        admin_user,
        {"name": ["Shanghai", "Shanghai shoppers"], "description": ["", "by city"]},
    )


def test_refresh_action_starts_one_refresh_per_segment(
    client, admin_user, django_capture_on_commit_callbacks
):
    # given
    CustomerFactory(customer_id="C1", city="Shanghai")
    first = Segment.objects.create(name="A", rules=canonical_rules(SHANGHAI))
    second = Segment.objects.create(name="B", kind=SegmentKind.SNAPSHOT, rules={})
    client.force_login(admin_user)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:segments_segment_changelist"),
            {"action": "refresh_segments", "_selected_action": [first.pk, second.pk]},
        )
    # then
    assert sorted(Job.objects.values_list("label", "status")) == [
        (f"Segment #{first.pk} refresh: A", "succeeded"),
        (f"Segment #{second.pk} refresh: B", "succeeded"),
    ]
    assert list(SegmentMember.objects.values_list("segment", flat=True)) == [first.pk]


def test_segments_cannot_be_added_or_deleted_and_members_only_read(client, admin_user, as_of):
    # given
    segment = Segment.objects.create(name="A", kind=SegmentKind.SNAPSHOT, rules={})
    member = SegmentMember.objects.create(
        segment=segment, customer=CustomerFactory(), added_at=as_of
    )
    client.force_login(admin_user)
    # when
    add = client.get(reverse("admin:segments_segment_add"))
    delete = client.get(reverse("admin:segments_segment_delete", args=[segment.pk]))
    members = client.get(reverse("admin:segments_segmentmember_changelist"))
    member_page = client.post(
        reverse("admin:segments_segmentmember_change", args=[member.pk]), {"added_at": ""}
    )
    # then
    assert (add.status_code, delete.status_code, members.status_code) == (403, 403, 200)
    assert member_page.status_code == 403
    member.refresh_from_db()
    assert member.added_at == as_of
