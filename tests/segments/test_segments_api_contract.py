"""The segments API keeps its published contract: every answer matches the schema of
GET /api/schema/ (each 400 is `{"path", "message"}`; `rfm_group` is one of its enum or
null), bad ids answer 404 and NUL bytes 400, never 500, and a segment whose rules no longer
validate is refused clearly instead of failing."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from crm.core.models import AuditEntry, Job
from segments.enums import SegmentKind
from segments.models import Segment
from segments.rules import canonical_rules
from tests.factories import CustomerFactory
from tests.segments.api_schema import assert_answer_documented, published_schema

pytestmark = pytest.mark.django_db

SEGMENTS = "/api/v1/segments/"
SHANGHAI = {"field": "city", "op": "eq", "value": "Shanghai"}


def dynamic(rules, name="Shanghai") -> Segment:
    return Segment.objects.create(name=name, rules=canonical_rules(rules))


@pytest.fixture
def broken(db):
    """A segment whose in_segment reference points at a segment deleted behind its back."""
    used = dynamic(SHANGHAI, name="Used")
    segment = dynamic({"field": "in_segment", "op": "eq", "value": used.pk}, name="Broken")
    gone = used.pk
    Segment.objects.filter(pk=gone).delete()
    return segment, gone


# Non-numeric ids --------------------------------------------------------------------------

BAD_IDS = ["abc", "%00", "1%00", "%C2%B2", "1.5", "-1", "99999999999999999999999"]
SEGMENT_URLS = [
    ("get", "{id}/"),
    ("patch", "{id}/"),
    ("delete", "{id}/"),
    ("get", "{id}/members/"),
    ("get", "{id}/export/"),
    ("get", "{id}/refresh/"),
    ("post", "{id}/refresh/"),
    ("get", "{id}/overlap/?with=1"),
    ("get", "{id}/size-history/"),
    ("post", "{id}/duplicate/"),
]


@pytest.mark.parametrize("bad_id", BAD_IDS)
@pytest.mark.parametrize(("method", "url"), SEGMENT_URLS, ids=[f"{m} {u}" for m, u in SEGMENT_URLS])
def test_a_segment_id_that_is_no_number_answers_404_in_json(marketer_api, bad_id, method, url):
    # given
    dynamic(SHANGHAI)
    # when
    response = getattr(marketer_api, method)(SEGMENTS + url.format(id=bad_id), format="json")
    # then
    assert response.status_code == 404
    assert response.json() == {"detail": "No segment with this id."}
    assert (Segment.objects.count(), AuditEntry.objects.count(), Job.objects.count()) == (1, 0, 0)


@pytest.mark.parametrize("other", ["abc", "%00", "%C2%B2", "99999999999999999999999"])
def test_overlap_with_a_segment_id_that_is_no_number_answers_400(marketer_api, other):
    # given
    segment = dynamic(SHANGHAI)
    # when
    response = marketer_api.get(f"{SEGMENTS}{segment.pk}/overlap/?with={other}")
    # then
    assert response.status_code == 400
    assert response.json()["path"] == "with"


@pytest.mark.parametrize("job", ["abc", "%00", "%C2%B2", "99999999999999999999999"])
def test_refresh_progress_of_a_job_id_that_is_no_number_answers_404(marketer_api, job):
    # given
    segment = dynamic(SHANGHAI)
    # when
    response = marketer_api.get(f"{SEGMENTS}{segment.pk}/refresh/?job={job}")
    # then
    assert response.status_code == 404


@pytest.mark.parametrize("bad_id", ["abc", "%00", "%C2%B2", "99999999999999999999999"])
@pytest.mark.parametrize(
    "page", ["", "update/", "summary/", "export/", "overlap/", "refresh/1/", "duplicate/"]
)
def test_a_segment_page_of_an_id_that_is_no_number_answers_404(client, marketer, bad_id, page):
    # given
    client.force_login(marketer)
    # when
    response = client.get(f"/segments/{bad_id}/{page}")
    # then
    assert response.status_code == 404


@pytest.mark.parametrize("other", ["abc", "%00", "%C2%B2", "99999999999999999999999"])
def test_the_overlap_fragment_of_an_id_that_is_no_number_compares_with_nothing(
    client, marketer, other
):
    # given
    segment = dynamic(SHANGHAI)
    client.force_login(marketer)
    # when
    response = client.get(f"/segments/{segment.pk}/overlap/?with={other}")
    # then
    assert response.status_code == 200
    assert response.context["other"] is None


# NUL bytes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "error"),
    [
        pytest.param(
            {"all": [SHANGHAI, {"field": "city", "op": "eq", "value": "Shang\x00hai"}]},
            {"path": "all[1]", "message": "value must not contain a NUL character"},
            id="value",
        ),
        pytest.param(
            {"any": [{"field": "city", "op": "in", "value": ["Beijing", "\x00"]}]},
            {"path": "any[0]", "message": "value[1] must not contain a NUL character"},
            id="list-item",
        ),
        pytest.param(
            {"not": {"field": "tag", "op": "has", "value": "vip\x00"}},
            {"path": "not", "message": "value must not contain a NUL character"},
            id="tag",
        ),
        pytest.param(
            {"field": "order_count", "op": "gte", "value": 1, "store": "S\x001"},
            {"path": "", "message": '"store" must not contain a NUL character'},
            id="purchase-scope",
        ),
    ],
)
def test_preview_refuses_a_nul_byte_in_a_rule_value_at_its_node(analyst_api, rules, error):
    # when
    response = analyst_api.post(f"{SEGMENTS}preview/", {"rules": rules}, format="json")
    # then
    assert (response.status_code, response.json()) == (400, error)


def test_create_refuses_a_nul_byte_in_a_rule_value_and_stores_nothing(marketer_api):
    # when
    response = marketer_api.post(
        SEGMENTS,
        {"name": "Nul", "rules": {"field": "bought_sku", "op": "eq", "value": "\x00"}},
        format="json",
    )
    # then
    assert (response.status_code, response.json()) == (
        400,
        {"path": "", "message": "value must not contain a NUL character"},
    )
    assert (Segment.objects.count(), AuditEntry.objects.count()) == (0, 0)


def test_builder_refuses_a_nul_byte_in_a_rule_value_at_its_node(client, marketer):
    # given
    client.force_login(marketer)
    rules = '{"all": [{"field": "city", "op": "eq", "value": "a\\u0000b"}]}'
    # when
    response = client.post(
        reverse("segment-create"), {"name": "Nul", "kind": "dynamic", "rules": rules}
    )
    # then
    assert response.status_code == 200
    assert response.context["builder"]["error"] == {
        "path": "all[0]",
        "message": "value must not contain a NUL character",
    }
    assert Segment.objects.count() == 0


def test_field_values_refuse_a_nul_byte_in_the_search(analyst_api):
    # when
    response = analyst_api.get(f"{SEGMENTS}field-values/", {"field": "city", "search": "a\x00"})
    # then
    assert (response.status_code, response.json()) == (
        400,
        {"path": "search", "message": "The search must not contain a NUL character."},
    )


def test_members_refuse_a_nul_byte_in_a_filter(analyst_api):
    # given
    segment = dynamic(SHANGHAI)
    # when
    response = analyst_api.get(f"{SEGMENTS}{segment.pk}/members/", {"city": "a\x00"})
    # then
    assert (response.status_code, response.json()) == (
        400,
        {"path": "city", "message": "Null characters are not allowed."},
    )


# Every answer as documented ---------------------------------------------------------------


def test_every_400_of_the_segments_api_is_path_and_message_as_documented(
    marketer_api, analyst_api, broken
):
    # given
    schema = published_schema(marketer_api)
    segment = dynamic(SHANGHAI)
    broken_segment, _ = broken
    too_long = "x" * 121
    cases = [
        ("/api/v1/segments/", "get", marketer_api.get(SEGMENTS, {"kind": "nope"})),
        ("/api/v1/segments/", "post", marketer_api.post(SEGMENTS, {}, format="json")),
        (
            "/api/v1/segments/",
            "post",
            marketer_api.post(SEGMENTS, {"name": "X", "rules": [1]}, format="json"),
        ),
        (
            "/api/v1/segments/",
            "post",
            marketer_api.post(SEGMENTS, "{oops", content_type="application/json"),
        ),
        (
            "/api/v1/segments/{id}/",
            "put",
            marketer_api.put(f"{SEGMENTS}{segment.pk}/", {"name": too_long}, format="json"),
        ),
        (
            "/api/v1/segments/{id}/",
            "patch",
            marketer_api.patch(f"{SEGMENTS}{segment.pk}/", {"kind": "sometimes"}, format="json"),
        ),
        (
            "/api/v1/segments/preview/",
            "post",
            analyst_api.post(
                f"{SEGMENTS}preview/", {"rules": SHANGHAI, "as_of": "yesterday"}, format="json"
            ),
        ),
        (
            "/api/v1/segments/preview/",
            "post",
            analyst_api.post(
                f"{SEGMENTS}preview/",
                {"rules": SHANGHAI, "builder_session": "x; drop"},
                format="json",
            ),
        ),
        (
            "/api/v1/segments/field-values/",
            "get",
            analyst_api.get(f"{SEGMENTS}field-values/", {"field": "age"}),
        ),
        (
            "/api/v1/segments/{id}/overlap/",
            "get",
            analyst_api.get(f"{SEGMENTS}{segment.pk}/overlap/", {"with": "0"}),
        ),
        (
            "/api/v1/segments/{id}/duplicate/",
            "post",
            marketer_api.post(
                f"{SEGMENTS}{segment.pk}/duplicate/", {"name": too_long}, format="json"
            ),
        ),
        (
            "/api/v1/segments/{segment_pk}/members/",
            "get",
            analyst_api.get(f"{SEGMENTS}{segment.pk}/members/", {"lifecycle_stage": "x"}),
        ),
        (
            "/api/v1/segments/{segment_pk}/members/",
            "get",
            analyst_api.get(f"{SEGMENTS}{broken_segment.pk}/members/"),
        ),
        (
            "/api/v1/segments/{segment_pk}/export/",
            "get",
            analyst_api.get(f"{SEGMENTS}{broken_segment.pk}/export/"),
        ),
        (
            "/api/v1/segments/upload/",
            "post",
            marketer_api.post(f"{SEGMENTS}upload/", {"name": "Guests"}, format="json"),
        ),
    ]
    # then
    for path, method, response in cases:
        assert response.status_code == 400, (method, path, response.content)
        assert set(response.json()) == {"path", "message"}, (method, path, response.json())
        assert_answer_documented(schema, path, method, response)


@pytest.mark.parametrize(
    ("request_body", "error"),
    [
        pytest.param({}, {"path": "name", "message": "This field is required."}, id="no-name"),
        pytest.param(
            {"name": "X", "rules": [1, 2]},
            {"path": "rules", "message": "Give the rules as a JSON object."},
            id="rules-not-an-object",
        ),
        pytest.param(
            {"name": "X\x00", "rules": SHANGHAI},
            {"path": "name", "message": "Null characters are not allowed."},
            id="nul-in-name",
        ),
    ],
)
def test_create_names_the_request_field_that_is_wrong(marketer_api, request_body, error):
    # when
    response = marketer_api.post(SEGMENTS, request_body, format="json")
    # then
    assert (response.status_code, response.json()) == (400, error)
    assert Segment.objects.count() == 0


def test_a_refusal_of_the_service_names_the_field_too(marketer_api):
    # given: an uploaded list, which has no rules
    uploaded = Segment.objects.create(name="Guests", kind=SegmentKind.SNAPSHOT, rules={})
    schema = published_schema(marketer_api)
    # when
    response = marketer_api.patch(f"{SEGMENTS}{uploaded.pk}/", {"kind": "dynamic"}, format="json")
    # then
    assert (response.status_code, response.json()) == (
        400,
        {"path": "kind", "message": "An uploaded list has no rules, so it can only be a snapshot."},
    )
    assert_answer_documented(schema, "/api/v1/segments/{id}/", "patch", response)
    uploaded.refresh_from_db()
    assert uploaded.kind == SegmentKind.SNAPSHOT


def test_members_answer_as_documented_with_rfm_group_null_when_unknown(analyst_api):
    # given: one customer never grouped (no paid order), one grouped
    CustomerFactory(customer_id="SH0", city="Shanghai", rfm_group="")
    CustomerFactory(customer_id="SH1", city="Shanghai", rfm_group="champions")
    segment = dynamic(SHANGHAI)
    schema = published_schema(analyst_api)
    # when
    response = analyst_api.get(f"{SEGMENTS}{segment.pk}/members/")
    # then
    assert response.status_code == 200
    assert [row["rfm_group"] for row in response.json()["results"]] == [None, "champions"]
    assert_answer_documented(schema, "/api/v1/segments/{segment_pk}/members/", "get", response)


def test_the_other_answers_of_the_segments_api_match_the_schema(marketer_api, as_of):
    # given
    CustomerFactory(customer_id="SH0", city="Shanghai", rfm_group="")
    segment = dynamic(SHANGHAI)
    other = dynamic({"field": "city", "op": "eq", "value": "Beijing"}, name="Beijing")
    schema = published_schema(marketer_api)
    marketer_api.post(f"{SEGMENTS}{segment.pk}/refresh/")
    cases = [
        ("/api/v1/segments/", "get", marketer_api.get(SEGMENTS)),
        ("/api/v1/segments/{id}/", "get", marketer_api.get(f"{SEGMENTS}{segment.pk}/")),
        (
            "/api/v1/segments/preview/",
            "post",
            marketer_api.post(f"{SEGMENTS}preview/", {"rules": SHANGHAI}, format="json"),
        ),
        (
            "/api/v1/segments/{id}/overlap/",
            "get",
            marketer_api.get(f"{SEGMENTS}{segment.pk}/overlap/", {"with": other.pk}),
        ),
        (
            "/api/v1/segments/{id}/size-history/",
            "get",
            marketer_api.get(f"{SEGMENTS}{segment.pk}/size-history/"),
        ),
        (
            "/api/v1/segments/{id}/refresh/",
            "get",
            marketer_api.get(f"{SEGMENTS}{segment.pk}/refresh/"),
        ),
        ("/api/v1/segments/fields/", "get", marketer_api.get(f"{SEGMENTS}fields/")),
        (
            "/api/v1/segments/field-values/",
            "get",
            marketer_api.get(f"{SEGMENTS}field-values/", {"field": "city"}),
        ),
    ]
    # then
    for path, method, response in cases:
        assert response.status_code == 200, (method, path, response.content)
        assert_answer_documented(schema, path, method, response)


# A segment whose rules no longer validate -------------------------------------------------


@pytest.mark.parametrize("accept", ["application/json", "text/csv"])
def test_api_export_of_a_segment_whose_rules_no_longer_validate_is_refused_in_json(
    analyst_api, broken, accept
):
    # given
    segment, gone = broken
    # when
    response = analyst_api.get(f"{SEGMENTS}{segment.pk}/export/", HTTP_ACCEPT=accept)
    # then
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "path": "",
        "message": f"This segment's rules no longer validate: segment {gone} does not exist",
    }


def test_page_export_of_a_segment_whose_rules_no_longer_validate_says_why(client, marketer, broken):
    # given
    segment, gone = broken
    client.force_login(marketer)
    # when
    response = client.get(reverse("segment-export", args=[segment.pk]))
    # then
    assert response.status_code == 302
    assert response.url == reverse("segment-detail", args=[segment.pk])
    assert [str(message) for message in get_messages(response.wsgi_request)] == [
        f"This segment cannot be exported: its rules no longer validate: segment {gone} does "
        "not exist"
    ]
