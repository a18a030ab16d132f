"""Bulk ingest API: POST /api/v1/{customers,orders,order-items,events}/bulk/ (SPEC §5)."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from rest_framework.test import APIClient

from crm.models import BehaviourEvent, Customer, Identity, Order, OrderItem
from tests.conftest import token_client
from tests.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")


@pytest.fixture(autouse=True)
def _shanghai_time(settings):
    settings.TIME_ZONE = "Asia/Shanghai"


def test_integration_upserts_orders_and_gets_each_refused_item_by_index(integration_api):
    # given
    items = [
        {"order_id": "O1", "customer_id": "C1", "placed_at": "2026-06-20", "amount": "1,234.50"},
        {
            "order_id": "O2",
            "customer_id": "C1",
            "placed_at": "2026-06-21T10:00:00Z",
            "amount": 12.5,
        },
        {"order_id": "O3", "customer_id": "C1", "placed_at": "2026-13-01", "amount": "1"},
        {"order_id": "O4", "customer_id": "C1", "placed_at": "2026-06-21", "amount": "1", "x": 1},
        "not an object",
        {"order_id": "O6", "customer_id": "C1", "placed_at": "2026-06-21", "amount": [1]},
    ]

    # when
    response = integration_api.post("/api/v1/orders/bulk/", {"items": items}, format="json")

    # then
    assert response.status_code == 200
    assert response.json() == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "refused": 4,
        "errors": [
            {"index": 2, "reason": 'placed_at "2026-13-01" is not an ISO 8601 date or datetime'},
            {"index": 3, "reason": 'unknown field "x"'},
            {"index": 4, "reason": "item is not a JSON object"},
            {"index": 5, "reason": "amount must be text, a number or true/false"},
        ],
    }
    assert sorted(Order.objects.values_list("order_id", "placed_at", "amount", "status")) == [
        ("O1", datetime(2026, 6, 19, 16, 0, tzinfo=UTC), Decimal("1234.50"), "paid"),
        ("O2", datetime(2026, 6, 21, 10, 0, tzinfo=UTC), Decimal("12.50"), "paid"),
    ]
    customer = Customer.objects.get()
    assert (customer.customer_id, customer.is_placeholder, customer.order_count) == ("C1", True, 2)


def test_sending_the_same_items_again_changes_nothing(integration_api):
    # given
    items = [
        {"customer_id": "C1", "name": "Li Wei", "tags": ["vip"], "is_member": True},
        {"customer_id": "C2", "identities": [{"source": "app", "external_id": "U2"}]},
    ]
    integration_api.post("/api/v1/customers/bulk/", {"items": items}, format="json")
    before = list(Customer.objects.order_by("pk").values())

    # when
    response = integration_api.post("/api/v1/customers/bulk/", {"items": items}, format="json")

    # then
    assert response.json() == {
        "created": 0,
        "updated": 0,
        "unchanged": 2,
        "refused": 0,
        "errors": [],
    }
    assert list(Customer.objects.order_by("pk").values()) == before
    assert list(Identity.objects.values_list("source", "external_id", "customer__customer_id")) == [
        ("app", "U2", "C2")
    ]


def test_keys_an_item_leaves_out_are_not_changed(marketer_api):
    # given
    CustomerFactory(customer_id="C1", name="Li Wei", city="Shanghai")

    # when
    response = marketer_api.post(
        "/api/v1/customers/bulk/",
        {"items": [{"customer_id": "C1", "city": "Wuhan"}]},
        format="json",
    )

    # then
    assert response.json()["updated"] == 1
    assert Customer.objects.values_list("name", "city").get() == ("Li Wei", "Wuhan")


def test_order_items_and_events_share_the_csv_rules(integration_api):
    # given
    OrderFactory(order_id="O1", customer=CustomerFactory(customer_id="C1"))

    # when
    items = integration_api.post(
        "/api/v1/order-items/bulk/",
        {
            "items": [
                {"order_id": "O1", "sku": "S1", "quantity": 2, "unit_price": "9.90"},
                {"order_id": "O9", "sku": "S1", "quantity": 1, "unit_price": "1"},
            ]
        },
        format="json",
    )
    events = integration_api.post(
        "/api/v1/events/bulk/",
        {
            "items": [
                {"customer_id": "C1", "kind": "visit", "occurred_at": "2026-06-01T08:00:00Z"},
                {"customer_id": "C1", "kind": "visit", "occurred_at": "2026-06-01T08:00:00Z"},
                {"customer_id": "C1", "kind": "poke", "occurred_at": "2026-06-01"},
            ]
        },
        format="json",
    )

    # then
    assert items.json() == {
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "refused": 1,
        "errors": [{"index": 1, "reason": 'order_id "O9" is not a known order'}],
    }
    assert list(OrderItem.objects.values_list("sku", "quantity", "unit_price")) == [
        ("S1", 2, Decimal("9.90"))
    ]
    assert events.json()["created"] == 1
    assert events.json()["unchanged"] == 1
    assert events.json()["errors"][0]["index"] == 2
    assert BehaviourEvent.objects.count() == 1


@pytest.mark.parametrize("role_client", ["analyst_api", "anonymous"])
def test_only_integration_and_marketer_roles_may_ingest(request, role_client):
    # given
    client = APIClient() if role_client == "anonymous" else request.getfixturevalue(role_client)
    items = [{"order_id": "O1", "customer_id": "C1", "placed_at": "2026-06-01", "amount": "1"}]

    # when
    response = client.post("/api/v1/orders/bulk/", {"items": items}, format="json")

    # then
    assert response.status_code == (403 if role_client == "analyst_api" else 401)
    assert Order.objects.count() == 0
    assert Customer.objects.count() == 0


def test_support_staff_may_not_ingest(support):
    # when
    response = token_client(support).post(
        "/api/v1/events/bulk/",
        {"items": [{"customer_id": "C1", "kind": "visit", "occurred_at": "2026-06-01"}]},
        format="json",
    )

    # then
    assert response.status_code == 403
    assert BehaviourEvent.objects.count() == 0


def test_a_logged_in_marketer_may_ingest_with_the_session(marketer):
    # given
    client = APIClient(enforce_csrf_checks=False)
    client.force_login(marketer)

    # when
    response = client.post(
        "/api/v1/customers/bulk/", {"items": [{"customer_id": "C1"}]}, format="json"
    )

    # then
    assert (response.status_code, response.json()["created"]) == (200, 1)


def test_more_than_5000_items_are_refused_naming_the_limit(integration_api):
    # given
    items = [{"customer_id": f"C{n}"} for n in range(5001)]

    # when
    response = integration_api.post("/api/v1/customers/bulk/", {"items": items}, format="json")

    # then
    assert response.status_code == 400
    assert response.json() == {
        "items": ["At most 5000 items per request; send the rest in more requests."]
    }
    assert Customer.objects.count() == 0


def test_5000_items_are_accepted(integration_api):
    # given
    items = [{"customer_id": f"C{n}"} for n in range(5000)]

    # when
    response = integration_api.post("/api/v1/customers/bulk/", {"items": items}, format="json")

    # then
    assert (response.status_code, response.json()["created"]) == (200, 5000)
    assert Customer.objects.count() == 5000


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        pytest.param(
            '{"items": {"customer_id": "C1"}}',
            "application/json",
            {"items": ['Expected a list of items but got type "dict".']},
            id="items-not-a-list",
        ),
        pytest.param(
            '[{"customer_id": "C1"}]',
            "application/json",
            {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]},
            id="body-a-list",
        ),
        pytest.param("{}", "application/json", {"items": ["This field is required."]}, id="empty"),
    ],
)
def test_a_malformed_body_is_refused_naming_the_problem(
    integration_api, body, content_type, expected
):
    # when
    response = integration_api.post("/api/v1/customers/bulk/", body, content_type=content_type)

    # then
    assert (response.status_code, response.json()) == (400, expected)
    assert Customer.objects.count() == 0


def test_invalid_json_is_refused(integration_api):
    # when
    response = integration_api.post(
        "/api/v1/customers/bulk/", '{"items": [', content_type="application/json"
    )

    # then
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")
    assert Customer.objects.count() == 0


def test_the_schema_documents_the_bulk_endpoints(integration_api):
    # when
    schema = integration_api.get("/api/schema/", {"format": "json"}).json()

    # then
    for path in ("customers", "orders", "order-items", "events"):
        operation = schema["paths"][f"/api/v1/{path}/bulk/"]["post"]
        assert set(operation["responses"]) == {"200", "400", "403"}
        assert operation["requestBody"]["content"]["application/json"]["examples"]
