"""The segment pages: list, segment page (sentence, size, history chart, sample, overlap,
refresh progress, export), builder (create, update, duplicate, refusals at the node),
list upload and delete; who may open which."""

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.core.models import AuditEntry, Job
from segments.enums import SegmentKind
from segments.models import Segment, SegmentSizeSnapshot
from segments.rules import canonical_rules
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

SHANGHAI = {"field": "city", "op": "eq", "value": "Shanghai"}


@pytest.fixture
def shoppers(db):
    for number in range(3):
        CustomerFactory(
            customer_id=f"SH{number}",
            city="Shanghai",
            phone=f"1380000000{number}",
            email=f"sh{number}@shop.cn",
        )
    CustomerFactory(customer_id="BJ0", city="Beijing")


def dynamic(rules, name="Shanghai") -> Segment:
    return Segment.objects.create(name=name, rules=canonical_rules(rules))


def builder_config(response) -> dict:
    text = response.content.decode()
    start = text.index('<script id="builder-config" type="application/json">') + len(
        '<script id="builder-config" type="application/json">'
    )
    return json.loads(text[start : text.index("</script>", start)])


# Who may open which page ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "read", "write"),
    [
        ("marketer", 200, 200),
        ("analyst", 200, 403),
        ("support", 403, 403),
        ("integration", 403, 403),
    ],
)
def test_marketers_write_analysts_read_others_are_refused(client, request, role, read, write):
    # given
    segment = dynamic(SHANGHAI)
    client.force_login(request.getfixturevalue(role))
    # when
    statuses = {
        "list": client.get(reverse("segment-list")).status_code,
        "detail": client.get(reverse("segment-detail", args=[segment.pk])).status_code,
        "create": client.get(reverse("segment-create")).status_code,
        "update": client.get(reverse("segment-update", args=[segment.pk])).status_code,
        "upload": client.get(reverse("segment-upload")).status_code,
    }
    # then
    assert statuses == {
        "list": read,
        "detail": read,
        "create": write,
        "update": write,
        "upload": write,
    }


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(reverse("segment-list"))
    assert (response.status_code, response.url) == (302, "/login/?next=/segments/")


# List -------------------------------------------------------------------------------------


def test_list_shows_size_kind_and_filters(client, marketer, as_of):
    # given
    counted = dynamic(SHANGHAI, name="Shanghai buyers")
    counted.member_count, counted.last_refreshed_at = 1234, as_of
    counted.save(update_fields=["member_count", "last_refreshed_at"])
    Segment.objects.create(name="Event guests", kind=SegmentKind.SNAPSHOT, rules={})
    client.force_login(marketer)
    # when
    everything = client.get(reverse("segment-list")).content.decode()
    snapshots = client.get(reverse("segment-list"), {"kind": "snapshot"}).content.decode()
    # then
    assert "<strong>2</strong> segments" in everything
    assert "1,234" in everything
    assert "not counted" in everything
    assert "Event guests" in snapshots
    assert "Shanghai buyers" not in snapshots
    assert "<strong>1</strong> segment match the filters" in snapshots


# Segment page -----------------------------------------------------------------------------


def test_segment_page_shows_sentence_and_history_and_loads_its_size_after(
    client, analyst, shoppers, as_of
):
    # given
    segment = dynamic(SHANGHAI)
    SegmentSizeSnapshot.objects.create(segment=segment, at=as_of, size=3)
    client.force_login(analyst)
    # when
    response = client.get(reverse("segment-detail", args=[segment.pk]))
    # then
    page = response.content.decode()
    assert response.context["sentence"] == "Customers in Shanghai"
    assert 'id="size-history"' in page
    assert f'hx-get="/segments/{segment.pk}/summary/" hx-trigger="load"' in page
    assert "Refresh</button>" not in page  # analysts read only


def test_segment_summary_shows_size_share_and_masked_sample(client, analyst, shoppers):
    # given
    segment = dynamic(SHANGHAI)
    client.force_login(analyst)
    # when
    response = client.get(reverse("segment-summary", args=[segment.pk]))
    # then
    page = response.content.decode()
    assert (response.context["size"]["count"], response.context["size"]["share"]) == (
        3,
        "75.0%",
    )
    assert [customer.customer_id for customer in response.context["sample"]] == [
        "SH0",
        "SH1",
        "SH2",
    ]
    assert "138****0000" in page
    assert "13800000000" not in page


def test_segment_summary_of_a_segment_nobody_is_in(client, analyst, shoppers):
    # given
    segment = dynamic({"field": "city", "op": "eq", "value": "Atlantis"})
    client.force_login(analyst)
    # when
    response = client.get(reverse("segment-summary", args=[segment.pk]))
    # then
    assert response.context["size"]["count"] == 0
    assert "Nobody is in this segment now." in response.content.decode()


def test_segment_page_without_history_says_so(client, marketer, shoppers):
    # given
    segment = dynamic(SHANGHAI)
    client.force_login(marketer)
    # when
    page = client.get(reverse("segment-detail", args=[segment.pk])).content.decode()
    # then
    assert "No refresh yet." in page
    assert "Never refreshed" in page


def test_overlap_fragment_counts_both_segments(client, analyst, shoppers):
    # given
    shanghai = dynamic(SHANGHAI)
    everyone = dynamic({"field": "city", "op": "in", "value": ["Shanghai", "Beijing"]}, "All")
    client.force_login(analyst)
    # when
    response = client.get(reverse("segment-overlap", args=[shanghai.pk]), {"with": everyone.pk})
    # then
    assert response.context["sizes"] == {
        "first": 3,
        "second": 4,
        "both": 3,
        "segment": shanghai.pk,
        "other": everyone.pk,
        "total": 4,
    }
    assert "100.0% of “Shanghai” are in “All”; 75.0% of “All” are in “Shanghai”." in (
        response.content.decode()
    )


def test_refresh_button_starts_a_refresh_and_the_fragment_polls_its_progress(
    client, marketer, shoppers, django_capture_on_commit_callbacks
):
    # given
    segment = dynamic(SHANGHAI)
    client.force_login(marketer)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(reverse("segment-refresh", args=[segment.pk]), HTTP_HX_REQUEST="true")
    job = Job.objects.get()
    progress = client.get(reverse("segment-refresh-progress", args=[segment.pk, job.pk]))
    # then
    assert started.status_code == 200
    assert 'hx-trigger="every 1s"' in started.content.decode()
    assert (job.status, job.done) == ("succeeded", 3)
    assert 'hx-trigger="every 1s"' not in progress.content.decode()
    assert "3 members." in progress.content.decode()


def test_export_streams_the_members_masked(client, marketer, shoppers):
    # given
    segment = dynamic(SHANGHAI)
    client.force_login(marketer)
    # when
    response = client.get(reverse("segment-export", args=[segment.pk]))
    # then
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(row["customer_id"], row["phone"], row["email"]) for row in rows] == [
        ("SH0", "138****0000", "s***@shop.cn"),
        ("SH1", "138****0001", "s***@shop.cn"),
        ("SH2", "138****0002", "s***@shop.cn"),
    ]


# Builder ----------------------------------------------------------------------------------


def test_builder_offers_the_catalogue_and_the_other_segments(client, marketer):
    # given
    segment = dynamic(SHANGHAI)
    other = dynamic(SHANGHAI, name="Other")
    client.force_login(marketer)
    # when
    config = builder_config(client.get(reverse("segment-update", args=[segment.pk])))
    # then
    assert config["rules"] == segment.rules
    assert config["segment"] == segment.pk
    assert config["segments"] == [{"id": other.pk, "name": "Other"}]
    assert config["error"] is None
    assert {field["name"] for field in config["fields"]} >= {"city", "order_count", "in_segment"}
    assert config["preview_url"] == "/api/v1/segments/preview/"
    assert config["values_url"] == "/api/v1/segments/field-values/"


def test_saving_the_builder_creates_the_segment(client, marketer):
    # given
    client.force_login(marketer)
    rules = {"all": [SHANGHAI, {"not": {"field": "tag", "op": "has", "value": "vip"}}]}
    # when
    response = client.post(
        reverse("segment-create"),
        {"name": "Shanghai, not VIP", "kind": "dynamic", "rules": json.dumps(rules)},
    )
    # then
    segment = Segment.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("segment-detail", args=[segment.pk])
    assert segment.rules == canonical_rules(rules)
    assert AuditEntry.objects.get().action == "segment.create"


def test_builder_shows_a_refusal_at_the_node_and_keeps_the_rules(client, marketer):
    # given
    client.force_login(marketer)
    rules = {"all": [SHANGHAI, {"any": [{"field": "city", "op": "gte", "value": "B"}]}]}
    # when
    response = client.post(
        reverse("segment-create"), {"name": "Bad", "kind": "dynamic", "rules": json.dumps(rules)}
    )
    # then
    assert response.status_code == 200
    config = builder_config(response)
    assert config["error"] == {
        "path": "all[1].any[0]",
        "message": 'field "city" does not accept operator "gte" (accepted: eq, ne, in, '
        "not_in, is_null)",
    }
    assert config["rules"] == rules
    assert Segment.objects.count() == 0


def test_builder_refuses_rules_that_are_not_json(client, marketer):
    # given
    client.force_login(marketer)
    # when
    response = client.post(
        reverse("segment-create"), {"name": "Bad", "kind": "dynamic", "rules": "{oops"}
    )
    # then
    assert response.context["form"].errors == {"rules": ["The rules are not valid JSON."]}
    assert Segment.objects.count() == 0


def test_saving_the_builder_on_a_segment_changes_it(client, marketer):
    # given
    segment = dynamic(SHANGHAI)
    client.force_login(marketer)
    rules = {"field": "city", "op": "in", "value": ["Beijing", "Shanghai"]}
    # when
    response = client.post(
        reverse("segment-update", args=[segment.pk]),
        {"name": "Two cities", "kind": "snapshot", "rules": json.dumps(rules)},
    )
    # then
    assert response.status_code == 302
    segment.refresh_from_db()
    assert (segment.name, segment.kind, segment.rules) == (
        "Two cities",
        "snapshot",
        canonical_rules(rules),
    )


def test_renaming_an_uploaded_list_keeps_its_members(client, marketer, as_of):
    # given
    segment = Segment.objects.create(name="Guests", kind=SegmentKind.SNAPSHOT, rules={})
    client.force_login(marketer)
    # when
    response = client.post(
        reverse("segment-update", args=[segment.pk]),
        {"name": "VIP guests", "kind": "snapshot", "rules": ""},
    )
    # then
    assert response.status_code == 302
    segment.refresh_from_db()
    assert (segment.name, segment.rules) == ("VIP guests", {})


def test_duplicate_opens_the_builder_on_a_copy_and_saving_creates_a_new_segment(client, marketer):
    # given
    original = dynamic(SHANGHAI)
    client.force_login(marketer)
    url = reverse("segment-duplicate", args=[original.pk])
    # when
    opened = client.get(url)
    saved = client.post(
        url, {"name": "Copy of Shanghai", "kind": "dynamic", "rules": json.dumps(SHANGHAI)}
    )
    # then
    assert opened.context["form"].initial["name"] == "Copy of Shanghai"
    assert builder_config(opened)["rules"] == original.rules
    assert builder_config(opened)["segment"] is None
    assert saved.status_code == 302
    assert list(Segment.objects.values_list("name", flat=True)) == ["Copy of Shanghai", "Shanghai"]


# Upload and delete ------------------------------------------------------------------------


def test_uploading_a_list_creates_a_snapshot_and_lists_unknown_ids(client, marketer, shoppers):
    # given
    client.force_login(marketer)
    upload = SimpleUploadedFile("guests.csv", b"SH0\nSH2\nNOPE\n", content_type="text/csv")
    # when
    response = client.post(
        reverse("segment-upload"), {"name": "Guests", "file": upload}, follow=True
    )
    # then
    segment = Segment.objects.get()
    assert response.redirect_chain == [(reverse("segment-detail", args=[segment.pk]), 302)]
    assert [str(message) for message in response.context["messages"]] == [
        "Snapshot “Guests”: 2 customers stored.",
        "1 unknown customer id not stored (line 3: NOPE).",
    ]
    assert segment.members.count() == 2


def test_uploading_only_unknown_ids_shows_the_refusal_and_stores_nothing(client, marketer):
    # given
    client.force_login(marketer)
    upload = SimpleUploadedFile("guests.csv", b"X1\n", content_type="text/csv")
    # when
    response = client.post(reverse("segment-upload"), {"name": "Guests", "file": upload})
    # then
    assert response.context["form"].errors == {
        "file": ['None of the 1 customer ids is a known customer (line 1: "X1").']
    }
    assert Segment.objects.count() == 0


def test_deleting_a_segment_in_use_is_refused_with_the_reason(client, marketer):
    # given
    used = dynamic(SHANGHAI)
    dynamic({"field": "in_segment", "op": "eq", "value": used.pk}, name="Uses it")
    client.force_login(marketer)
    # when
    response = client.post(reverse("segment-delete", args=[used.pk]), follow=True)
    # then
    assert [str(message) for message in response.context["messages"]] == [
        'Not deleted: Segment "Shanghai" is used by segment "Uses it"; remove it from there first.'
    ]
    assert Segment.objects.count() == 2


def test_deleting_an_unused_segment(client, marketer):
    # given
    segment = dynamic(SHANGHAI)
    client.force_login(marketer)
    # when
    response = client.post(reverse("segment-delete", args=[segment.pk]))
    # then
    assert (response.status_code, response.url) == (302, reverse("segment-list"))
    assert Segment.objects.count() == 0


def test_duplicating_an_uploaded_list_copies_its_members(client, marketer, as_of):
    # given
    original = Segment.objects.create(name="Guests", kind=SegmentKind.SNAPSHOT, rules={})
    original.members.create(customer=CustomerFactory(customer_id="G1"), added_at=as_of)
    client.force_login(marketer)
    url = reverse("segment-duplicate", args=[original.pk])
    # when
    opened = client.get(url)
    copied = client.post(url)
    # then
    copy = Segment.objects.exclude(pk=original.pk).get()
    assert (opened.status_code, opened.url) == (302, reverse("segment-detail", args=[original.pk]))
    assert (copied.status_code, copied.url) == (302, reverse("segment-detail", args=[copy.pk]))
    assert (copy.name, list(copy.members.values_list("customer__customer_id", flat=True))) == (
        "Copy of Guests",
        ["G1"],
    )
