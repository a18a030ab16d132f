"""The OpenAPI schema stands on its own: integrators read it without our product
specification, so no text in it points at one ("SPEC §4"); it says the rules instead."""

import json

import pytest

pytestmark = pytest.mark.django_db


def schema_text(client) -> tuple[dict, str]:
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    return schema, json.dumps(schema, ensure_ascii=False)


def test_the_schema_names_no_specification_section(integration_api):
    # when
    _, text = schema_text(integration_api)

    # then
    assert "SPEC" not in text
    assert "§" not in text


def test_the_claim_and_the_rule_tree_are_described_in_words(integration_api):
    # when
    schema, _ = schema_text(integration_api)

    # then
    claim = schema["paths"]["/api/v1/claims/"]["post"]["description"]
    for rule in ("claim window", "audience", "stock", "budget", "anti-harassment"):
        assert rule in claim
    rules = schema["components"]["schemas"]["SegmentInput"]["properties"]["rules"]
    assert rules["description"] == (
        'A rule tree of at most 16 levels and 500 conditions: {"all": [...]}, {"any": '
        '[...]}, {"not": node} or a condition {"field", "op", "value"} (+ "window", "kind", '
        '"category"/"sku"/"store"/"channel" where the field takes them; see GET '
        "/api/v1/segments/fields/)."
    )
