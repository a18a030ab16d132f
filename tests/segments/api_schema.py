"""Checks of API answers against the OpenAPI schema the API publishes (GET /api/schema/).

OpenAPI 3.0 schemas are JSON Schema plus `nullable`; `json_schema()` turns `nullable: true`
into an explicit null alternative so that jsonschema can validate answers with them.
"""

from typing import Any

import jsonschema
from rest_framework.test import APIClient


def published_schema(client: APIClient) -> dict[str, Any]:
    """The OpenAPI document as GET /api/schema/ serves it (JSON)."""
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def json_schema(node: Any) -> Any:
    """An OpenAPI 3.0 schema (fragment) as plain JSON Schema."""
    if isinstance(node, list):
        return [json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def documented_response(
    schema: dict[str, Any], path: str, method: str, status: int
) -> dict[str, Any] | None:
    """The JSON body schema documented for `status` of an operation (None: no body)."""
    responses = schema["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} does not document {status}"
    content = responses[str(status)].get("content", {})
    return content.get("application/json", {}).get("schema")


def assert_answer_documented(schema: dict[str, Any], path: str, method: str, response) -> None:
    """The response's status is documented for the operation and its body matches."""
    body_schema = documented_response(schema, path, method, response.status_code)
    assert body_schema is not None, f"{method} {path} documents no body for {response.status_code}"
    document = {**json_schema(body_schema), "components": json_schema(schema["components"])}
    jsonschema.validate(response.json(), document)
