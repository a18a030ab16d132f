"""A NUL character (\\x00), which PostgreSQL text cannot hold, refuses only the row, item or
request that carries it, naming the field; it never stops an import or answers 500."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.core.models import Job
from crm.exceptions import ImportRefused
from crm.models import BehaviourEvent, Customer, Order, Tag
from crm.services.imports.results import RowError
from crm.services.imports.runs import import_csv_file
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _shanghai_time(settings):
    settings.TIME_ZONE = "Asia/Shanghai"


def test_a_nul_in_a_csv_cell_refuses_that_row_and_keeps_the_others(tmp_path, as_of):
    # given
    path = tmp_path / "customers.csv"
    path.write_bytes(
        b"customer_id,name,city,tags\n"
        b"C1,Li Wei,Shanghai,vip\n"
        b"C2,Wu\x00Fang,Wuhan,\n"
        b"C3,Ma,Bei\x00jing,\n"
        b"C4,Xu,Hangzhou,new;v\x00ip\n"
        b"C\x005,Qi,Hangzhou,\n"
        b"C6,Yu,Suzhou,\n"
    )

    # when
    result = import_csv_file(kind="customers", path=path, now=as_of)

    # then
    assert result.errors == [
        RowError(3, "name contains a NUL character (\\x00)"),
        RowError(4, "city contains a NUL character (\\x00)"),
        RowError(5, "tags contains a NUL character (\\x00)"),
        RowError(6, "customer_id contains a NUL character (\\x00)"),
    ]
    assert sorted(Customer.objects.values_list("customer_id", "name", "city")) == [
        ("C1", "Li Wei", "Shanghai"),
        ("C6", "Yu", "Suzhou"),
    ]
    assert list(Tag.objects.values_list("name", flat=True)) == ["vip"]


def test_a_nul_in_the_header_refuses_the_file_whole(tmp_path, as_of):
    # given: UTF-16 without a byte order mark reads as text with a NUL after each letter
    path = tmp_path / "orders.csv"
    path.write_bytes("order_id,customer_id,placed_at,amount\n".encode("utf-16-le"))

    # when / then
    with pytest.raises(ImportRefused) as refusal:
        import_csv_file(kind="orders", path=path, now=as_of)
    assert refusal.value.detail == (
        "The file contains NUL bytes, so it is not CSV text (a spreadsheet? Save it as CSV UTF-8)."
    )
    assert Order.objects.count() == 0


def test_customers_bulk_refuses_the_items_with_a_nul_and_stores_the_others(integration_api):
    # given
    items = [
        {"customer_id": "C1", "name": "Li Wei"},
        {"customer_id": "C2", "name": "Wu\x00Fang"},
        {"customer_id": "C3", "tags": ["vip", "n\x00ew"]},
        {"customer_id": "C4", "identities": ["app:U\x004"]},
        {"customer_id": "C5", "na\x00me": "Ma"},
        {"customer_id": "C6\x00"},
        {"customer_id": "C7", "city": "Wuhan", "tags": ["vip"]},
    ]

    # when
    response = integration_api.post("/api/v1/customers/bulk/", {"items": items}, format="json")

    # then
    assert response.status_code == 200
    assert response.json() == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "refused": 5,
        "errors": [
            {"index": 1, "reason": "name contains a NUL character (\\x00)"},
            {"index": 2, "reason": "tags contains a NUL character (\\x00)"},
            {"index": 3, "reason": "identities contains a NUL character (\\x00)"},
            {"index": 4, "reason": 'unknown field "na\\x00me"'},
            {"index": 5, "reason": "customer_id contains a NUL character (\\x00)"},
        ],
    }
    assert sorted(Customer.objects.values_list("customer_id", "name", "city")) == [
        ("C1", "Li Wei", ""),
        ("C7", "", "Wuhan"),
    ]


def test_orders_and_events_bulk_refuse_the_items_with_a_nul(integration_api):
    # given
    CustomerFactory(customer_id="C1")
    orders = [
        {"order_id": "O\x001", "customer_id": "C1", "placed_at": "2026-03-01", "amount": "1"},
        {"order_id": "O2", "customer_id": "C1", "placed_at": "2026-03-01", "amount": "1",
         "store": "S\x00"},
        {"order_id": "O3", "customer_id": "app:\x00", "placed_at": "2026-03-01", "amount": "1"},
        {"order_id": "O4", "customer_id": "C1", "placed_at": "2026-03-01", "amount": "1"},
    ]  # fmt: skip
    events = [
        {"customer_id": "C1", "kind": "visit", "occurred_at": "2026-03-01", "sku": "\x00"},
        {"customer_id": "C1", "kind": "vis\x00it", "occurred_at": "2026-03-01"},
        {"customer_id": "C1", "kind": "visit", "occurred_at": "2026-03-01\x00"},
        {"customer_id": "C1", "kind": "visit", "occurred_at": "2026-03-02"},
    ]

    # when
    order_answer = integration_api.post("/api/v1/orders/bulk/", {"items": orders}, format="json")
    event_answer = integration_api.post("/api/v1/events/bulk/", {"items": events}, format="json")

    # then
    assert order_answer.json()["errors"] == [
        {"index": 0, "reason": "order_id contains a NUL character (\\x00)"},
        {"index": 1, "reason": "store contains a NUL character (\\x00)"},
        {"index": 2, "reason": "customer_id contains a NUL character (\\x00)"},
    ]
    assert event_answer.json()["errors"] == [
        {"index": 0, "reason": "sku contains a NUL character (\\x00)"},
        {"index": 1, "reason": "kind contains a NUL character (\\x00)"},
        {"index": 2, "reason": "occurred_at contains a NUL character (\\x00)"},
    ]
    assert list(Order.objects.values_list("order_id", flat=True)) == ["O4"]
    assert BehaviourEvent.objects.count() == 1


@pytest.mark.parametrize(
    "url",
    [
        "/customers/%00/",
        "/customers/C%001/",
        "/api/v1/customers/%00/",
        "/api/v1/customers/%00/bulk/",
    ],
)
def test_a_nul_in_a_customer_path_is_not_found(client, marketer, url):
    # given
    CustomerFactory(customer_id="C1")
    client.force_login(marketer)

    # when
    response = client.get(url)

    # then
    assert response.status_code == 404


def test_a_nul_in_the_customer_list_filters_is_refused_by_the_form(client, marketer):
    # given
    CustomerFactory(customer_id="C1", city="Wuhan")
    client.force_login(marketer)

    # when
    listing = client.get(reverse("customer-list"), {"q": "Wu\x00", "city": "\x00"})
    export = client.get(reverse("customer-export"), {"q": "\x00"})

    # then: an invalid filter shows the list unfiltered, as django-filter does
    assert (listing.status_code, export.status_code) == (200, 200)
    assert listing.context["filterset"].errors == {
        "q": ["Null characters are not allowed."],
        "city": ["Null characters are not allowed."],
    }


def test_a_row_refused_for_a_nul_is_in_the_refused_rows_download(
    client, marketer, settings, tmp_path, django_capture_on_commit_callbacks
):
    # given
    settings.MEDIA_ROOT = tmp_path
    client.force_login(marketer)
    content = b"customer_id,name\nC1,Li\nC2,Wu\x00Fang\n"

    # when
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("import-create"),
            {"kind": "customers", "file": SimpleUploadedFile("people.csv", content)},
        )
    response = client.get(reverse("import-refused-rows", args=[Job.objects.get().pk]))

    # then: the NUL shows as the replacement character, which text can hold
    assert b"".join(response.streaming_content).decode() == (
        "line,reason,customer_id,name\r\n"
        "3,name contains a NUL character (\\x00),C2,Wu\N{REPLACEMENT CHARACTER}Fang\r\n"
    )
    assert list(Customer.objects.values_list("customer_id", flat=True)) == ["C1"]
