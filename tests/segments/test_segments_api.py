"""The segments API (SPEC §5): CRUD, preview, members, export, refresh, overlap, field
catalogue and values, duplicate, upload, roles, the 400 shape with the node's path, and
the OpenAPI schema."""

import csv
import io

import pytest
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from crm.core.models import AuditEntry, Job
from crm.models import Tag
from segments.catalogue import field_catalogue
from segments.enums import SegmentKind
from segments.models import Segment, SegmentMember, SegmentSizeSnapshot
from segments.rules import canonical_rules
from tests.conftest import token_client
from tests.factories import CustomerFactory, OrderFactory, OrderItemFactory

pytestmark = pytest.mark.django_db

SEGMENTS = "/api/v1/segments/"
SHANGHAI = {"field": "city", "op": "eq", "value": "Shanghai"}
BAD_OPERATOR = {"all": [SHANGHAI, {"any": [{"field": "city", "op": "gte", "value": "B"}]}]}
BAD_OPERATOR_ERROR = {
    "path": "all[1].any[0]",
    "message": 'field "city" does not accept operator "gte" (accepted: eq, ne, in, not_in, '
    "is_null)",
}


@pytest.fixture
def shoppers(db):
    """Three Shanghai customers (with contact details), two in Beijing."""
    for number in range(3):
        CustomerFactory(
            customer_id=f"SH{number}",
            name=f"Shanghai {number}",
            city="Shanghai",
            phone=f"1380000000{number}",
            email=f"sh{number}@shop.cn",
        )
    for number in range(2):
        CustomerFactory(customer_id=f"BJ{number}", city="Beijing")


def dynamic(rules, name="Shanghai") -> Segment:
    return Segment.objects.create(name=name, rules=canonical_rules(rules))


def csv_rows(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


# CRUD -------------------------------------------------------------------------------------


def test_marketer_creates_a_segment_and_reads_it_back_with_its_sentence(marketer_api, marketer):
    # when
    response = marketer_api.post(SEGMENTS, {"name": "Shanghai", "rules": SHANGHAI}, format="json")
    # then
    assert response.status_code == 201
    body = response.json()
    segment = Segment.objects.get()
    assert body["id"] == segment.pk
    assert {key: body[key] for key in ("name", "kind", "rules", "member_count", "sentence")} == {
        "name": "Shanghai",
        "kind": "dynamic",
        "rules": {"field": "city", "op": "eq", "value": "Shanghai"},
        "member_count": None,
        "sentence": "Customers in Shanghai",
    }
    assert (body["created_by"], body["updated_by"]) == ("marketer", "marketer")
    assert marketer_api.get(f"{SEGMENTS}{segment.pk}/").json()["sentence"] == (
        "Customers in Shanghai"
    )
    assert AuditEntry.objects.get().action == "segment.create"


def test_create_refuses_invalid_rules_with_the_node_path_and_stores_nothing(marketer_api):
    # when
    response = marketer_api.post(SEGMENTS, {"name": "Bad", "rules": BAD_OPERATOR}, format="json")
    # then
    assert (response.status_code, response.json()) == (400, BAD_OPERATOR_ERROR)
    assert (Segment.objects.count(), AuditEntry.objects.count(), Job.objects.count()) == (0, 0, 0)


def test_create_refuses_rules_that_are_not_an_object(marketer_api):
    # when
    response = marketer_api.post(SEGMENTS, {"name": "Bad", "rules": [1, 2]}, format="json")
    # then
    assert (response.status_code, response.json()) == (
        400,
        {"path": "rules", "message": "Give the rules as a JSON object."},
    )
    assert Segment.objects.count() == 0


def test_analyst_reads_but_may_not_write(analyst_api):
    # given
    segment = dynamic(SHANGHAI)
    # when
    listed = analyst_api.get(SEGMENTS)
    created = analyst_api.post(SEGMENTS, {"name": "X", "rules": SHANGHAI}, format="json")
    changed = analyst_api.patch(f"{SEGMENTS}{segment.pk}/", {"name": "Y"}, format="json")
    deleted = analyst_api.delete(f"{SEGMENTS}{segment.pk}/")
    # then
    assert listed.status_code == 200
    assert [row["name"] for row in listed.json()["results"]] == ["Shanghai"]
    assert (created.status_code, changed.status_code, deleted.status_code) == (403, 403, 403)
    segment.refresh_from_db()
    assert segment.name == "Shanghai"
    assert Segment.objects.count() == 1


def test_integration_token_may_not_read_segments(integration_api):
    # given
    dynamic(SHANGHAI)
    # when
    response = integration_api.get(SEGMENTS)
    # then
    assert response.status_code == 403


def test_list_filters_by_kind_and_search(marketer_api):
    # given
    dynamic(SHANGHAI, name="Shanghai buyers")
    Segment.objects.create(name="Event guests", kind=SegmentKind.SNAPSHOT, rules={})
    # when
    snapshots = marketer_api.get(SEGMENTS, {"kind": "snapshot"}).json()
    searched = marketer_api.get(SEGMENTS, {"q": "buyers"}).json()
    # then
    assert [row["name"] for row in snapshots["results"]] == ["Event guests"]
    assert [row["name"] for row in searched["results"]] == ["Shanghai buyers"]


def test_patch_changes_rules_and_refuses_invalid_ones_without_change(marketer_api):
    # given
    segment = dynamic(SHANGHAI)
    url = f"{SEGMENTS}{segment.pk}/"
    # when
    refused = marketer_api.patch(url, {"rules": BAD_OPERATOR}, format="json")
    changed = marketer_api.patch(
        url, {"rules": {"field": "city", "op": "in", "value": ["Beijing"]}}, format="json"
    )
    # then
    assert (refused.status_code, refused.json()) == (400, BAD_OPERATOR_ERROR)
    assert changed.status_code == 200
    assert changed.json()["sentence"] == "Customers in Beijing"
    assert [entry.action for entry in AuditEntry.objects.all()] == ["segment.update"]


def test_put_replaces_name_description_kind_and_rules(marketer_api):
    # given
    segment = dynamic(SHANGHAI)
    # when
    response = marketer_api.put(
        f"{SEGMENTS}{segment.pk}/",
        {"name": "Frozen Shanghai", "kind": "snapshot", "rules": SHANGHAI},
        format="json",
    )
    # then
    assert response.status_code == 200
    segment.refresh_from_db()
    assert (segment.name, segment.kind, segment.description) == ("Frozen Shanghai", "snapshot", "")


def test_delete_is_refused_while_another_segment_uses_it(marketer_api):
    # given
    used = dynamic(SHANGHAI)
    dynamic({"field": "in_segment", "op": "eq", "value": used.pk}, name="Uses it")
    # when
    response = marketer_api.delete(f"{SEGMENTS}{used.pk}/")
    # then
    assert (response.status_code, response.json()) == (
        409,
        {
            "reason": "segment_in_use",
            "detail": 'Segment "Shanghai" is used by segment "Uses it"; remove it from there '
            "first.",
        },
    )
    assert Segment.objects.count() == 2


def test_delete_removes_an_unused_segment(marketer_api):
    # given
    segment = dynamic(SHANGHAI)
    # when
    response = marketer_api.delete(f"{SEGMENTS}{segment.pk}/")
    # then
    assert response.status_code == 204
    assert Segment.objects.count() == 0


# Preview ----------------------------------------------------------------------------------


def test_preview_counts_with_a_sample_and_sentence(marketer_api, shoppers):
    # when
    response = marketer_api.post(
        f"{SEGMENTS}preview/",
        {"rules": SHANGHAI, "builder_session": "builder-0001"},
        format="json",
    )
    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["total"], body["description"]) == (3, 5, "Customers in Shanghai")
    assert [row["customer_id"] for row in body["sample"]] == ["SH0", "SH1", "SH2"]
    assert sorted(body["sample"][0]) == [
        "city",
        "customer_id",
        "last_order_at",
        "lifecycle_stage",
        "name",
        "order_count",
        "total_spent",
    ]


def test_preview_refuses_invalid_rules_with_path_and_message(analyst_api):
    # when
    response = analyst_api.post(f"{SEGMENTS}preview/", {"rules": BAD_OPERATOR}, format="json")
    # then
    assert (response.status_code, response.json()) == (400, BAD_OPERATOR_ERROR)


def test_preview_refuses_a_reference_back_to_the_segment_being_edited(marketer_api):
    # given
    segment = dynamic(SHANGHAI, name="Me")
    # when
    response = marketer_api.post(
        f"{SEGMENTS}preview/",
        {"rules": {"field": "in_segment", "op": "eq", "value": segment.pk}, "segment": segment.pk},
        format="json",
    )
    # then
    assert (response.status_code, response.json()) == (
        400,
        {"path": "", "message": 'in_segment would make a cycle: "Me" -> "Me"'},
    )


def test_preview_as_of_a_past_moment(marketer_api, as_of):
    # given: an order placed after as_of does not count
    OrderFactory(customer=CustomerFactory(customer_id="A"), placed_at=as_of.replace(day=1))
    OrderFactory(customer=CustomerFactory(customer_id="B"), placed_at=as_of.replace(month=7))
    rules = {"field": "order_count", "op": "gte", "value": 1}
    # when
    response = marketer_api.post(
        f"{SEGMENTS}preview/", {"rules": rules, "as_of": as_of.isoformat()}, format="json"
    )
    # then
    assert response.json()["count"] == 1
    assert [row["customer_id"] for row in response.json()["sample"]] == ["A"]


def test_preview_refuses_a_malformed_builder_session(marketer_api):
    # when
    response = marketer_api.post(
        f"{SEGMENTS}preview/", {"rules": SHANGHAI, "builder_session": "x; drop"}, format="json"
    )
    # then
    assert response.status_code == 400
    assert response.json()["path"] == "builder_session"


def test_integration_token_may_not_preview(integration_api):
    response = integration_api.post(f"{SEGMENTS}preview/", {"rules": SHANGHAI}, format="json")
    assert response.status_code == 403


# Catalogue and values ---------------------------------------------------------------------


def test_fields_publish_the_field_catalogue(analyst_api):
    # when
    response = analyst_api.get(f"{SEGMENTS}fields/")
    # then
    assert response.status_code == 200
    assert response.json() == field_catalogue()


def test_field_values_offer_the_values_present_most_frequent_first(analyst_api, shoppers):
    # given
    cache.clear()
    CustomerFactory(customer_id="GZ0", city="Guangzhou")
    CustomerFactory(customer_id="NO-CITY", city="")
    Tag.objects.create(name="vip")
    order = OrderFactory(customer=CustomerFactory(customer_id="X"))
    OrderItemFactory(order=order, category="nuts")
    OrderItemFactory(order=order, category="tea")
    OrderItemFactory(order=OrderFactory(customer=order.customer), category="tea")
    # when
    cities = analyst_api.get(f"{SEGMENTS}field-values/", {"field": "city"}).json()
    searched = analyst_api.get(
        f"{SEGMENTS}field-values/", {"field": "city", "search": "jing"}
    ).json()
    categories = analyst_api.get(f"{SEGMENTS}field-values/", {"field": "category"}).json()
    tags = analyst_api.get(f"{SEGMENTS}field-values/", {"field": "tag"}).json()
    # then
    assert cities == {"field": "city", "values": ["Shanghai", "Beijing", "Guangzhou"]}
    assert searched == {"field": "city", "values": ["Beijing"]}
    assert categories == {"field": "category", "values": ["tea", "nuts"]}
    assert tags == {"field": "tag", "values": ["vip"]}


def test_field_values_refuse_a_field_without_data_values(analyst_api):
    # when
    response = analyst_api.get(f"{SEGMENTS}field-values/", {"field": "age"})
    # then
    assert response.status_code == 400
    assert response.json()["path"] == "field"


# Members and export -----------------------------------------------------------------------


def test_members_are_paginated_filtered_and_masked(marketer_api, shoppers):
    # given
    segment = dynamic({"field": "city", "op": "in", "value": ["Shanghai", "Beijing"]})
    url = f"/api/v1/segments/{segment.pk}/members/"
    # when
    first_page = marketer_api.get(url, {"page_size": 2}).json()
    shanghai = marketer_api.get(url, {"city": "shanghai", "q": "SH1"}).json()
    # then
    assert first_page["count"] == 5
    assert [row["customer_id"] for row in first_page["results"]] == ["BJ0", "BJ1"]
    assert [(row["customer_id"], row["phone"], row["email"]) for row in shanghai["results"]] == [
        ("SH1", "138****0001", "s***@shop.cn")
    ]


def test_members_show_contact_with_the_pii_permission(marketer, shoppers):
    # given
    marketer.user_permissions.add(Permission.objects.get(codename="view_customer_pii"))
    api = token_client(User.objects.get(pk=marketer.pk))
    segment = dynamic(SHANGHAI)
    # when
    rows = api.get(f"/api/v1/segments/{segment.pk}/members/").json()["results"]
    # then
    assert [(row["phone"], row["email"]) for row in rows] == [
        ("13800000000", "sh0@shop.cn"),
        ("13800000001", "sh1@shop.cn"),
        ("13800000002", "sh2@shop.cn"),
    ]


def test_members_of_a_snapshot_are_its_frozen_list(analyst_api, shoppers, as_of):
    # given
    segment = Segment.objects.create(name="Guests", kind=SegmentKind.SNAPSHOT, rules={})
    SegmentMember.objects.create(
        segment=segment, customer=CustomerFactory(customer_id="Z9"), added_at=as_of
    )
    # when
    rows = analyst_api.get(f"/api/v1/segments/{segment.pk}/members/").json()["results"]
    # then
    assert [row["customer_id"] for row in rows] == ["Z9"]


def test_export_streams_masked_members_safe_from_formula_injection(analyst_api, shoppers):
    # given
    CustomerFactory(
        customer_id="SH9", name='=HYPERLINK("http://x")', city="Shanghai", phone="+8613812345678"
    )
    segment = dynamic(SHANGHAI)
    # when
    response = analyst_api.get(f"/api/v1/segments/{segment.pk}/export/", {"q": "SH9"})
    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = csv_rows(response)
    assert [(row["customer_id"], row["name"], row["phone"], row["city"]) for row in rows] == [
        ("SH9", '\'=HYPERLINK("http://x")', "'+86****5678", "Shanghai")
    ]


def test_export_answers_a_client_that_accepts_only_csv(analyst_api, shoppers):
    # given
    segment = dynamic(SHANGHAI)
    # when
    response = analyst_api.get(f"/api/v1/segments/{segment.pk}/export/", HTTP_ACCEPT="text/csv")
    # then
    assert response.status_code == 200
    assert [row["customer_id"] for row in csv_rows(response)] == ["SH0", "SH1", "SH2"]


# Refresh, size history, overlap, duplicate ------------------------------------------------


def test_refresh_answers_202_with_the_job_and_reports_its_progress(
    marketer_api, shoppers, django_capture_on_commit_callbacks
):
    # given
    segment = dynamic(SHANGHAI)
    url = f"{SEGMENTS}{segment.pk}/refresh/"
    # when
    with django_capture_on_commit_callbacks(execute=True):
        started = marketer_api.post(url)
    progress = marketer_api.get(url)
    # then
    assert started.status_code == 202
    job_id = started.json()["job"]
    assert started.json()["status"] == "pending"
    assert progress.status_code == 200
    body = progress.json()
    assert (body["job"], body["status"], body["total"], body["done"], body["percent"]) == (
        job_id,
        "succeeded",
        3,
        3,
        100,
    )
    assert marketer_api.get(url, {"job": job_id}).json()["job"] == job_id
    assert SegmentMember.objects.filter(segment=segment).count() == 3


def test_refresh_progress_of_a_segment_never_refreshed_is_404(analyst_api):
    # given
    segment = dynamic(SHANGHAI)
    # when
    response = analyst_api.get(f"{SEGMENTS}{segment.pk}/refresh/")
    # then
    assert (response.status_code, response.json()) == (
        404,
        {"detail": "This segment was never refreshed."},
    )


def test_analyst_may_not_start_a_refresh(analyst_api):
    # given
    segment = dynamic(SHANGHAI)
    # when
    response = analyst_api.post(f"{SEGMENTS}{segment.pk}/refresh/")
    # then
    assert response.status_code == 403
    assert Job.objects.count() == 0


def test_size_history_lists_the_counted_sizes_oldest_first(analyst_api, as_of):
    # given
    segment = dynamic(SHANGHAI)
    SegmentSizeSnapshot.objects.create(segment=segment, at=as_of.replace(day=2), size=7)
    SegmentSizeSnapshot.objects.create(segment=segment, at=as_of.replace(day=1), size=5)
    # when
    response = analyst_api.get(f"{SEGMENTS}{segment.pk}/size-history/")
    # then
    assert [row["size"] for row in response.json()] == [5, 7]


def test_overlap_counts_both_segments_and_their_intersection(analyst_api, shoppers):
    # given
    shanghai = dynamic(SHANGHAI)
    first_customers = dynamic(
        {"field": "in_segment", "op": "in", "value": [shanghai.pk]}, name="Same"
    )
    beijing = dynamic({"field": "city", "op": "eq", "value": "Beijing"}, name="Beijing")
    # when
    same = analyst_api.get(f"{SEGMENTS}{shanghai.pk}/overlap/", {"with": first_customers.pk})
    apart = analyst_api.get(f"{SEGMENTS}{shanghai.pk}/overlap/", {"with": beijing.pk})
    missing = analyst_api.get(f"{SEGMENTS}{shanghai.pk}/overlap/")
    # then
    assert same.json() == {
        "segment": shanghai.pk,
        "other": first_customers.pk,
        "first": 3,
        "second": 3,
        "both": 3,
        "total": 5,
    }
    assert (apart.json()["both"], apart.json()["second"]) == (0, 2)
    assert (missing.status_code, missing.json()) == (
        400,
        {"path": "with", "message": "No segment with id ''."},
    )


def test_duplicate_copies_the_rules_under_a_new_name(marketer_api):
    # given
    segment = dynamic(SHANGHAI)
    # when
    response = marketer_api.post(
        f"{SEGMENTS}{segment.pk}/duplicate/", {"name": "Shanghai copy"}, format="json"
    )
    # then
    assert response.status_code == 201
    assert (response.json()["name"], response.json()["rules"]) == (
        "Shanghai copy",
        segment.rules,
    )
    assert Segment.objects.count() == 2


# Upload -----------------------------------------------------------------------------------


def test_upload_a_list_stores_known_ids_and_reports_unknown_ones(marketer_api, shoppers):
    # when
    response = marketer_api.post(
        f"{SEGMENTS}upload/",
        {"name": "Guests", "customer_ids": ["SH0", "NOPE", "BJ1", "SH0"]},
        format="json",
    )
    # then
    assert response.status_code == 201
    body = response.json()
    assert (body["stored"], body["duplicates"], body["unknown_count"]) == (2, 1, 1)
    assert body["unknown"] == [
        {"line": 2, "customer_id": "NOPE", "reason": 'unknown customer id "NOPE"'}
    ]
    assert (body["segment"]["kind"], body["segment"]["member_count"]) == ("snapshot", 2)


def test_upload_a_csv_file(marketer_api, shoppers):
    # given
    upload = SimpleUploadedFile("guests.csv", b"customer_id\nSH1\nSH2\n", content_type="text/csv")
    # when
    response = marketer_api.post(
        f"{SEGMENTS}upload/", {"name": "Guests", "file": upload}, format="multipart"
    )
    # then
    assert response.status_code == 201
    segment = Segment.objects.get()
    assert set(segment.members.values_list("customer__customer_id", flat=True)) == {"SH1", "SH2"}


def test_upload_of_only_unknown_ids_is_refused_and_stores_nothing(marketer_api, shoppers):
    # when
    response = marketer_api.post(
        f"{SEGMENTS}upload/", {"name": "Guests", "customer_ids": ["X1"]}, format="json"
    )
    # then
    assert (response.status_code, response.json()) == (
        409,
        {
            "reason": "no_known_customers",
            "detail": 'None of the 1 customer ids is a known customer (line 1: "X1").',
        },
    )
    assert (Segment.objects.count(), SegmentMember.objects.count()) == (0, 0)


def test_upload_needs_either_a_list_or_a_file(marketer_api):
    response = marketer_api.post(f"{SEGMENTS}upload/", {"name": "Guests"}, format="json")
    assert (response.status_code, response.json()) == (
        400,
        {"path": "", "message": "Give either customer_ids or a file, not both."},
    )


# OpenAPI schema ---------------------------------------------------------------------------


def test_schema_of_the_segments_api_generates_without_warnings():
    # given
    GENERATOR_STATS.reset()
    generator = SchemaGenerator()
    # when
    schema = generator.get_schema(request=None, public=True)
    # then
    validate_schema(schema)
    assert not GENERATOR_STATS
    paths = {url: item for url, item in schema["paths"].items() if url.startswith(SEGMENTS)}
    assert sorted(paths) == [
        "/api/v1/segments/",
        "/api/v1/segments/field-values/",
        "/api/v1/segments/fields/",
        "/api/v1/segments/preview/",
        "/api/v1/segments/upload/",
        "/api/v1/segments/{id}/",
        "/api/v1/segments/{id}/duplicate/",
        "/api/v1/segments/{id}/overlap/",
        "/api/v1/segments/{id}/refresh/",
        "/api/v1/segments/{id}/size-history/",
        "/api/v1/segments/{segment_pk}/export/",
        "/api/v1/segments/{segment_pk}/members/",
    ]
    preview = paths["/api/v1/segments/preview/"]["post"]
    assert sorted(preview["responses"]) == ["200", "400", "403", "409", "422", "503"]
    member_filters = {
        parameter["name"]
        for parameter in paths["/api/v1/segments/{segment_pk}/members/"]["get"]["parameters"]
    }
    assert {"city", "lifecycle_stage", "tag", "page"} <= member_filters
