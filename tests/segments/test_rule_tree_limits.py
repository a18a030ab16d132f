"""Deep and wide rule trees (SPEC §2: at most 16 levels and 500 conditions): refused with
400 before they cost anything, through the API (preview, create) and the builder page.

A body nested far deeper than any rule tree is refused before the JSON decoder recurses
(1,000 levels used to end in a RecursionError and a 500), and a tree over 500 conditions
before it is compiled (5,000 conditions used to take 16 s).
"""

import json
import time

import pytest
from django.urls import reverse

from crm.core.models import AuditEntry, Job
from segments.models import Segment
from segments.rules import canonical_rules

pytestmark = pytest.mark.django_db

SEGMENTS = "/api/v1/segments/"
PREVIEW = f"{SEGMENTS}preview/"
SHANGHAI = {"field": "city", "op": "eq", "value": "Shanghai"}
TOO_DEEP_BODY = {
    "path": "",
    "message": "The JSON is nested more than 64 levels deep.",
}
TOO_WIDE = {
    "path": "",
    "message": "the rules hold more than 500 conditions (counting those of the segments they "
    "use); a segment holds at most 500",
}


def nested_text(levels: int) -> str:
    """`levels` NOTs around a condition, written as text (json.dumps would recurse)."""
    return '{"not": ' * levels + json.dumps(SHANGHAI) + "}" * levels


def conditions(count: int) -> dict:
    return {"any": [{"field": "points", "op": "eq", "value": number} for number in range(count)]}


# Deep ---------------------------------------------------------------------------------------


def test_preview_refuses_a_tree_nested_a_thousand_deep_with_400(analyst_api):
    # when
    response = analyst_api.post(
        PREVIEW, f'{{"rules": {nested_text(1000)}}}', content_type="application/json"
    )
    # then
    assert (response.status_code, response.json()) == (400, TOO_DEEP_BODY)


def test_create_refuses_a_tree_nested_a_thousand_deep_and_stores_nothing(marketer_api):
    # when
    response = marketer_api.post(
        SEGMENTS,
        f'{{"name": "Deep", "rules": {nested_text(1000)}}}',
        content_type="application/json",
    )
    # then
    assert (response.status_code, response.json()) == (400, TOO_DEEP_BODY)
    assert (Segment.objects.count(), AuditEntry.objects.count(), Job.objects.count()) == (0, 0, 0)


def test_preview_refuses_a_deep_tree_sent_as_a_form_field(analyst_api):
    # when: the same tree as the text of a form field, which the API decodes itself
    response = analyst_api.post(PREVIEW, {"rules": nested_text(1000)}, format="multipart")
    # then
    assert response.status_code == 400
    assert response.json() == {
        "path": "rules",
        "message": "The rules are nested more than 64 levels deep (a rule tree holds at most "
        "16 levels).",
    }


def test_a_tree_just_over_the_depth_limit_is_refused_at_its_node(analyst_api):
    # given: 17 levels of NOT, well inside the JSON bound
    rules = json.loads(nested_text(17))
    # when
    response = analyst_api.post(PREVIEW, {"rules": rules}, format="json")
    # then
    assert (response.status_code, response.json()) == (
        400,
        {"path": ".".join(["not"] * 17), "message": "groups are nested more than 16 levels deep"},
    )


def test_every_api_endpoint_refuses_json_nested_a_thousand_deep(integration_api):
    # when: an ingest endpoint of another app, whose items hold free-form JSON attributes
    deep = '{"a": ' * 1000 + "1" + "}" * 1000
    response = integration_api.post(
        "/api/v1/customers/bulk/",
        f'{{"items": [{{"customer_id": "C1", "attributes": {deep}}}]}}',
        content_type="application/json",
    )
    # then
    assert response.status_code == 400
    assert "nested more than 64 levels deep" in response.content.decode()


def test_builder_refuses_a_tree_nested_a_thousand_deep(client, marketer):
    # given
    client.force_login(marketer)
    # when
    response = client.post(
        reverse("segment-create"), {"name": "Deep", "kind": "dynamic", "rules": nested_text(1000)}
    )
    # then
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "rules": [
            "The rules are nested more than 64 levels deep (a rule tree holds at most 16 levels)."
        ]
    }
    assert Segment.objects.count() == 0


# Wide ---------------------------------------------------------------------------------------


def test_preview_counts_a_tree_of_exactly_500_conditions(analyst_api):
    # when
    response = analyst_api.post(PREVIEW, {"rules": conditions(500)}, format="json")
    # then
    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_preview_refuses_a_tree_of_501_conditions_naming_the_limit(analyst_api):
    # when
    response = analyst_api.post(PREVIEW, {"rules": conditions(501)}, format="json")
    # then
    assert (response.status_code, response.json()) == (400, TOO_WIDE)


def test_five_thousand_conditions_are_refused_at_once(analyst_api, marketer_api):
    # given: 5,000 conditions used to be compiled and run (16 s)
    rules = conditions(5000)
    # when
    started = time.monotonic()
    previewed = analyst_api.post(PREVIEW, {"rules": rules}, format="json")
    created = marketer_api.post(SEGMENTS, {"name": "Wide", "rules": rules}, format="json")
    elapsed = time.monotonic() - started
    # then
    assert (previewed.status_code, previewed.json()) == (400, TOO_WIDE)
    assert (created.status_code, created.json()) == (400, TOO_WIDE)
    assert elapsed < 3
    assert Segment.objects.count() == 0


def test_conditions_of_referenced_segments_count_towards_the_limit(analyst_api):
    # given: a stored segment of 300 conditions, used by a tree of 201 of its own
    used = Segment.objects.create(name="Big", rules=canonical_rules(conditions(300)))
    rules = conditions(200)
    rules["any"].append({"field": "in_segment", "op": "eq", "value": used.pk})
    # when
    response = analyst_api.post(PREVIEW, {"rules": rules}, format="json")
    # then
    assert (response.status_code, response.json()) == (400, TOO_WIDE)


def test_a_segment_used_many_times_counts_each_time(analyst_api):
    # given: 400 conditions used twice is 800 conditions to evaluate
    used = Segment.objects.create(name="Big", rules=canonical_rules(conditions(400)))
    rules = {"any": [{"field": "in_segment", "op": "eq", "value": used.pk}] * 2}
    # when
    response = analyst_api.post(PREVIEW, {"rules": rules}, format="json")
    # then
    assert (response.status_code, response.json()) == (400, TOO_WIDE)


def test_builder_refuses_501_conditions_at_the_root_and_stores_nothing(client, marketer):
    # given
    client.force_login(marketer)
    # when
    response = client.post(
        reverse("segment-create"),
        {"name": "Wide", "kind": "dynamic", "rules": json.dumps(conditions(501))},
    )
    # then
    assert response.status_code == 200
    assert response.context["builder"]["error"] == TOO_WIDE
    assert Segment.objects.count() == 0
