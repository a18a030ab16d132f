"""Dates out of range are refused row by row in every importer (CSV file, command, upload
page, bulk API): moments from 1970-01-01 to one day after now, birth dates from 1900-01-01
to today, both in the operator's time zone."""

import io
import textwrap
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from crm.core.models import Job
from crm.models import BehaviourEvent, Customer, Order
from crm.services.imports.results import RowError
from crm.services.imports.runs import import_csv_file
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")
SHANGHAI = ZoneInfo("Asia/Shanghai")
ORDERS_HEADER = "order_id,customer_id,placed_at,amount\n"
# as_of (tests/conftest.py) is 2026-06-30 12:00 UTC, 20:00 in Shanghai.
MOMENT_RANGE = (
    "1970-01-01 00:00:00 to 2026-07-01 20:00:00 (Asia/Shanghai; at most one day after now)"
)
BIRTH_DATE_RANGE = "1900-01-01 to 2026-06-30 (today)"


@pytest.fixture(autouse=True)
def _shanghai_time(settings):
    settings.TIME_ZONE = "Asia/Shanghai"


def write_csv(tmp_path, text: str, name: str = "data.csv"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def out_of_range(field: str, value: str) -> str:
    return f'{field} "{value}" is outside the allowed range {MOMENT_RANGE}'


def test_orders_placed_before_1970_or_more_than_a_day_ahead_are_refused(tmp_path, as_of):
    # given
    path = write_csv(
        tmp_path,
        ORDERS_HEADER
        + """\
        O1,C1,9999-12-31T23:59:59-12:00,10
        O2,C1,1969-12-31T23:59:59+08:00,10
        O3,C1,2026-07-01T20:00:01+08:00,10
        O4,C1,1970-01-01,10
        O5,C1,2026-07-01T20:00:00+08:00,10
        O6,C1,0001-01-01T00:00:00+01:00,10
        """,
    )

    # when
    result = import_csv_file(kind="orders", path=path, now=as_of)

    # then
    assert result.errors == [
        RowError(2, out_of_range("placed_at", "9999-12-31T23:59:59-12:00")),
        RowError(3, out_of_range("placed_at", "1969-12-31T23:59:59+08:00")),
        RowError(4, out_of_range("placed_at", "2026-07-01T20:00:01+08:00")),
        RowError(7, out_of_range("placed_at", "0001-01-01T00:00:00+01:00")),
    ]
    assert sorted(Order.objects.values_list("order_id", "placed_at")) == [
        ("O4", datetime(1970, 1, 1, tzinfo=SHANGHAI)),
        ("O5", datetime(2026, 7, 1, 12, 0, tzinfo=UTC)),
    ]


def test_a_missing_or_unreadable_date_is_reported_as_such_beside_one_out_of_range(tmp_path, as_of):
    # given
    path = write_csv(
        tmp_path,
        ORDERS_HEADER
        + """\
        O1,C1,,10
        O2,C1,2026-13-01,10
        O3,C1,2100-01-01,10
        O4,C1,2026-03-01,10
        """,
    )

    # when
    result = import_csv_file(kind="orders", path=path, now=as_of)

    # then
    assert result.errors == [
        RowError(2, "placed_at missing"),
        RowError(3, 'placed_at "2026-13-01" is not an ISO 8601 date or datetime'),
        RowError(4, out_of_range("placed_at", "2100-01-01")),
    ]
    assert list(Order.objects.values_list("order_id", flat=True)) == ["O4"]


def test_the_import_command_reports_the_refused_dates(tmp_path):
    # given
    path = write_csv(
        tmp_path, ORDERS_HEADER + "O1,C1,9999-12-31T23:59:59-12:00,10\nO2,C1,2026-03-01,10\n"
    )
    out = io.StringIO()
    tomorrow = timezone.localtime(timezone.now() + timedelta(days=1))

    # when
    call_command("import_orders", str(path), stdout=out, stderr=io.StringIO(), verbosity=0)

    # then: the upper end is one day after the command's own now (to the minute here)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("2 rows: 1 created, 0 updated, 0 unchanged, 1 refused")
    assert lines[1].startswith(
        'line 2: placed_at "9999-12-31T23:59:59-12:00" is outside the allowed range '
        "1970-01-01 00:00:00 to "
    )
    assert lines[1].endswith("(Asia/Shanghai; at most one day after now)")
    assert tomorrow.strftime("%Y-%m-%d") in lines[1]
    assert list(Order.objects.values_list("order_id", flat=True)) == ["O2"]


def test_customers_born_before_1900_or_after_today_and_registered_out_of_range_are_refused(
    tmp_path, as_of
):
    # given: 2026-07-01 is already tomorrow in Shanghai at as_of (20:00 local)
    path = write_csv(
        tmp_path,
        """\
        customer_id,name,birth_date,registered_at
        C1,Li,1899-12-31,2020-01-01
        C2,Wu,2026-07-01,2020-01-01
        C3,Ma,1990-05-17,1969-12-31
        C4,Xu,1990-05-17,9999-12-31T23:59:59-12:00
        C5,Qi,1900-01-01,1970-01-01T00:00:00+08:00
        C6,Yu,2026-06-30,2026-06-30T20:00:00+08:00
        """,
    )

    # when
    result = import_csv_file(kind="customers", path=path, now=as_of)

    # then: birth dates are personal data and are not quoted back
    assert result.errors == [
        RowError(2, f"birth_date is outside the allowed range {BIRTH_DATE_RANGE}"),
        RowError(3, f"birth_date is outside the allowed range {BIRTH_DATE_RANGE}"),
        RowError(4, out_of_range("registered_at", "1969-12-31")),
        RowError(5, out_of_range("registered_at", "9999-12-31T23:59:59-12:00")),
    ]
    assert sorted(Customer.objects.values_list("customer_id", "birth_date", "registered_at")) == [
        ("C5", date(1900, 1, 1), datetime(1970, 1, 1, tzinfo=SHANGHAI)),
        ("C6", date(2026, 6, 30), datetime(2026, 6, 30, 12, 0, tzinfo=UTC)),
    ]


def test_an_unparseable_birth_date_is_not_quoted_back(tmp_path, as_of):
    # given
    path = write_csv(tmp_path, "customer_id,birth_date\nC1,17/05/1990\n")

    # when
    result = import_csv_file(kind="customers", path=path, now=as_of)

    # then
    assert result.errors == [RowError(2, "birth_date is not an ISO 8601 date (YYYY-MM-DD)")]
    assert Customer.objects.count() == 0


def test_events_out_of_range_are_refused(tmp_path, as_of):
    # given
    path = write_csv(
        tmp_path,
        """\
        customer_id,kind,occurred_at
        C1,visit,2200-01-01
        C1,visit,2026-06-01
        """,
    )

    # when
    result = import_csv_file(kind="events", path=path, now=as_of)

    # then
    assert result.errors == [RowError(2, out_of_range("occurred_at", "2200-01-01"))]
    assert list(BehaviourEvent.objects.values_list("occurred_at", flat=True)) == [
        datetime(2026, 6, 1, tzinfo=SHANGHAI)
    ]


def test_the_bulk_api_refuses_each_item_out_of_range_by_index_and_keeps_the_others(
    integration_api,
):
    # given
    orders = [
        {"order_id": "O1", "customer_id": "C1", "placed_at": "9999-12-31T23:59:59-12:00",
         "amount": "10"},
        {"order_id": "O2", "customer_id": "C1", "placed_at": "2026-03-01", "amount": "10"},
    ]  # fmt: skip
    customers = [
        {"customer_id": "C7", "birth_date": "1850-01-01"},
        {"customer_id": "C8", "registered_at": "3000-01-01"},
        {"customer_id": "C9", "birth_date": "1990-05-17", "registered_at": "2024-01-01"},
    ]
    events = [
        {"customer_id": "C1", "kind": "visit", "occurred_at": "1900-01-01"},
        {"customer_id": "C1", "kind": "visit", "occurred_at": "2026-03-01"},
    ]
    before = timezone.now()

    # when
    order_answer = integration_api.post("/api/v1/orders/bulk/", {"items": orders}, format="json")
    customer_answer = integration_api.post(
        "/api/v1/customers/bulk/", {"items": customers}, format="json"
    )
    event_answer = integration_api.post("/api/v1/events/bulk/", {"items": events}, format="json")

    # then: the upper end is one day after the request's now
    after = timezone.now()

    def reasons(field: str, value: str) -> set[str]:
        return {
            f'{field} "{value}" is outside the allowed range 1970-01-01 00:00:00 to '
            f"{timezone.localtime(now + timedelta(days=1)):%Y-%m-%d %H:%M:%S} "
            "(Asia/Shanghai; at most one day after now)"
            for now in (before, after)
        }

    assert order_answer.status_code == 200
    [order_error] = order_answer.json()["errors"]
    assert order_error["index"] == 0
    assert order_error["reason"] in reasons("placed_at", "9999-12-31T23:59:59-12:00")
    [birth_error, registered_error] = customer_answer.json()["errors"]
    assert birth_error == {
        "index": 0,
        "reason": "birth_date is outside the allowed range 1900-01-01 to "
        f"{timezone.localdate(after).isoformat()} (today)",
    }
    assert registered_error["index"] == 1
    assert registered_error["reason"] in reasons("registered_at", "3000-01-01")
    [event_error] = event_answer.json()["errors"]
    assert event_error["index"] == 0
    assert event_error["reason"] in reasons("occurred_at", "1900-01-01")
    assert list(Order.objects.values_list("order_id", flat=True)) == ["O2"]
    assert sorted(Customer.objects.values_list("customer_id", flat=True)) == ["C1", "C9"]
    assert BehaviourEvent.objects.count() == 1


def test_a_far_future_order_uploaded_on_the_page_is_refused_and_every_page_still_opens(
    client, admin_user, settings, tmp_path, django_capture_on_commit_callbacks
):
    # given
    settings.MEDIA_ROOT = tmp_path
    CustomerFactory(customer_id="C1")
    client.force_login(admin_user)
    content = (ORDERS_HEADER + "O1,C1,9999-12-31T23:59:59-12:00,10\nO2,C1,2026-03-01,10\n").encode()

    # when
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("import-create"),
            {"kind": "orders", "file": SimpleUploadedFile("o.csv", content)},
        )

    # then
    job = Job.objects.get()
    assert (job.status, job.succeeded, job.failed) == ("succeeded", 1, 1)
    assert job.errors[0]["line"] == 2
    assert job.errors[0]["reason"].startswith(
        'placed_at "9999-12-31T23:59:59-12:00" is outside the allowed range 1970-01-01 00:00:00 to '
    )
    assert list(Order.objects.values_list("order_id", "amount")) == [("O2", Decimal("10.00"))]
    customer = Customer.objects.get(customer_id="C1")
    assert client.get(reverse("admin:crm_order_changelist")).status_code == 200
    assert client.get(reverse("customer-detail", args=["C1"])).status_code == 200
    assert client.get(reverse("admin:crm_customer_change", args=[customer.pk])).status_code == 200


def test_the_schema_states_the_ranges(integration_api):
    # when
    schema = integration_api.get("/api/schema/", {"format": "json"}).json()

    # then
    descriptions = {
        path: schema["paths"][f"/api/v1/{path}/bulk/"]["post"]["description"]
        for path in ("customers", "orders", "events")
    }
    assert "`placed_at` must be from 1970-01-01 to one day after now" in descriptions["orders"]
    assert "`occurred_at` must be from 1970-01-01 to one day after now" in descriptions["events"]
    assert "`birth_date` must be from 1900-01-01 to today" in descriptions["customers"]
