"""Points rewards (SPEC §4): every change to a points balance is a ledger row, whatever
made it (CSV import, bulk API, a staff adjustment through the API or the admin, even a
hand-written UPDATE); adjustments never take a balance below 0, also when they race.

The expected ledger of each test is written out from the changes the test makes, and the
balance is checked against the sum of the changes."""

import threading

import pytest
from django.db import close_old_connections, connection
from django.urls import reverse
from rest_framework.test import APIClient

from crm.exceptions import PointsRefused
from crm.models import Customer, PointsEntry
from crm.services.imports.runs import import_csv_file, ingest_records
from crm.services.points import adjust_points
from tests.conftest import make_user, token_client
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def ledger(customer_id: str) -> list[tuple[int, int, str, str]]:
    """(change, balance, reason, reference) in the order they were written (the row lock
    of the customer orders the writes; `at` is the business time each service gave)."""
    return list(
        PointsEntry.objects.filter(customer__customer_id=customer_id)
        .order_by("id")
        .values_list("change", "balance", "reason", "reference")
    )


def assert_ledger_adds_up(customer_id: str) -> None:
    customer = Customer.objects.get(customer_id=customer_id)
    changes = [change for change, *_ in ledger(customer_id)]
    assert sum(changes) == customer.points
    running = 0
    for change, balance, *_ in ledger(customer_id):
        running += change
        assert balance == running


def points_url(customer_id: str) -> str:
    return f"/api/v1/customers/{customer_id}/points/"


def test_a_customer_loaded_with_points_opens_the_ledger_and_imports_leave_it_alone(tmp_path, as_of):
    # given a customer loaded with 40 points (the demo's generator, a migration's backfill)
    CustomerFactory(customer_id="C1", points=40)
    CustomerFactory(customer_id="C2")
    # when a customers file and the bulk API rewrite their profiles (no points column)
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,name,is_member\nC1,Ann,true\nC2,Bo,true\n", encoding="utf-8")
    assert import_csv_file(kind="customers", path=path, now=as_of).updated == 2
    ingest_records(kind="customers", items=[{"customer_id": "C1", "name": "Anne"}], now=as_of)
    # then C1's ledger holds only its opening 40, C2's nothing
    assert ledger("C1") == [(40, 40, "import", "")]
    assert ledger("C2") == []


def test_a_change_no_service_labelled_is_still_in_the_ledger(as_of):
    # given
    CustomerFactory(customer_id="C9")
    # when a hand-written UPDATE changes the balance
    with connection.cursor() as cursor:
        cursor.execute("UPDATE crm_customer SET points = 15 WHERE customer_id = 'C9'")
        cursor.execute("UPDATE crm_customer SET points = 15, name = 'x' WHERE customer_id = 'C9'")
    # then the database recorded it, once, without a reason
    assert ledger("C9") == [(15, 15, "unrecorded", "")]


def test_staff_adjust_points_through_the_api(as_of):
    # given a customer with 100 points and a support user
    CustomerFactory(customer_id="C3")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE crm_customer SET points = 100 WHERE customer_id = 'C3'")
    client = token_client(make_user("support"))

    # when 25 are added, then 125 taken, then 126 (one too many)
    added = client.post(points_url("C3"), {"change": 25, "note": "late parcel"}, format="json")
    taken = client.post(points_url("C3"), {"change": -125, "note": "fraud"}, format="json")
    too_many = client.post(points_url("C3"), {"change": -1, "note": "again"}, format="json")

    # then
    assert (added.status_code, taken.status_code, too_many.status_code) == (201, 201, 409)
    assert (added.json()["change"], added.json()["balance"]) == (25, 125)
    assert added.json()["reason"] == "adjustment"
    assert added.json()["reference"] == "support: late parcel"
    assert too_many.json()["reason"] == "insufficient_points"
    assert too_many.json()["detail"] == (
        "The balance is 0 points; taking 1 would leave it below 0."
    )
    assert [row[:3] for row in ledger("C3")] == [
        (100, 100, "unrecorded"),
        (25, 125, "adjustment"),
        (-125, 0, "adjustment"),
    ]
    # and the ledger reads newest first, filtered by reason
    listed = client.get(points_url("C3"), {"reason": "adjustment"})
    assert listed.status_code == 200
    assert [(row["change"], row["balance"]) for row in listed.json()["results"]] == [
        (-125, 0),
        (25, 125),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"change": 0, "note": "x"}, "change"),
        ({"change": 5, "note": ""}, "note"),
        ({"change": "many", "note": "x"}, "change"),
        ({"change": 10**12, "note": "x"}, "change"),
        ({"note": "x"}, "change"),
    ],
)
def test_a_bad_adjustment_is_a_400_naming_its_field(body, field):
    CustomerFactory(customer_id="C4")
    answer = token_client(make_user("marketer")).post(points_url("C4"), body, format="json")
    assert answer.status_code == 400
    assert list(answer.json()) == [field]
    assert ledger("C4") == []


def test_a_balance_cannot_pass_the_largest_integer(as_of):
    CustomerFactory(customer_id="C5")
    client = token_client(make_user("marketer"))
    for _ in range(2):
        assert client.post(points_url("C5"), {"change": 10**9, "note": "x"}).status_code == 201
    answer = client.post(points_url("C5"), {"change": 10**9, "note": "x"}, format="json")
    assert answer.status_code == 409
    assert answer.json()["reason"] == "balance_too_large"
    assert Customer.objects.get(customer_id="C5").points == 2 * 10**9


def test_who_reads_and_who_adjusts(integration_api, analyst_api):
    CustomerFactory(customer_id="C6")
    assert integration_api.get(points_url("C6")).status_code == 200
    assert analyst_api.get(points_url("C6")).status_code == 200
    assert integration_api.post(points_url("C6"), {"change": 5, "note": "x"}).status_code == 403
    assert analyst_api.post(points_url("C6"), {"change": 5, "note": "x"}).status_code == 403
    assert APIClient().get(points_url("C6")).status_code in (401, 403)
    assert integration_api.get(points_url("nobody")).status_code == 404
    assert analyst_api.get(points_url("C6"), {"reason": "bribe"}).status_code == 400
    assert ledger("C6") == []


@pytest.mark.django_db(transaction=True)
def test_racing_adjustments_never_take_a_balance_below_zero(as_of):
    # given 100 points and 20 staff taking 10 each at once, on their own connections
    customer = CustomerFactory(customer_id="C8")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE crm_customer SET points = 100 WHERE customer_id = 'C8'")
    actor = make_user("support")
    start = threading.Barrier(20)
    outcomes: list[str] = []

    def take() -> None:
        try:
            start.wait()
            adjust_points(customer=customer, change=-10, note="race", actor=actor, now=as_of)
            outcomes.append("taken")
        except PointsRefused as refusal:
            outcomes.append(refusal.reason)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=take) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then exactly ten took their points, and the ledger holds exactly those ten
    assert sorted(outcomes) == ["insufficient_points"] * 10 + ["taken"] * 10
    assert Customer.objects.get(customer_id="C8").points == 0
    adjustments = [row for row in ledger("C8") if row[2] == "adjustment"]
    assert [row[0] for row in adjustments] == [-10] * 10
    assert sorted(row[1] for row in adjustments) == list(range(0, 100, 10))
    assert_ledger_adds_up("C8")


def test_support_adjusts_points_in_the_admin(client, as_of):
    # given two customers, one with no points
    CustomerFactory(customer_id="A1")
    CustomerFactory(customer_id="A2")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE crm_customer SET points = 50 WHERE customer_id = 'A1'")
    client.force_login(make_user("support"))
    ids = [str(pk) for pk in Customer.objects.order_by("customer_id").values_list("pk", flat=True)]
    url = reverse("admin:crm_customer_changelist")

    # when the action asks, then takes 30 from both
    asked = client.post(url, {"action": "adjust_points", "_selected_action": ids})
    done = client.post(
        url,
        {"action": "adjust_points", "_selected_action": ids, "change": "-30", "note": "audit"},
        follow=True,
    )

    # then A1 lost 30 and A2, holding none, was named and left alone
    assert asked.status_code == 200
    assert "A1: 50 points" in asked.content.decode()
    texts = [str(message) for message in done.context["messages"]]
    assert texts == [
        "Adjusted the points of 1 customer by -30.",
        "Not adjusted: A2: The balance is 0 points; taking 30 would leave it below 0.",
    ]
    assert ledger("A1")[-1] == (-30, 20, "adjustment", "support: audit")
    assert ledger("A2") == []


def test_the_customer_page_shows_the_latest_points(client, as_of):
    CustomerFactory(customer_id="P1")
    adjust_points(
        customer=Customer.objects.get(customer_id="P1"),
        change=70,
        note="welcome back",
        actor=None,
        now=as_of,
    )
    client.force_login(make_user("marketer"))
    page = client.get(reverse("customer-detail", args=["P1"])).content.decode()
    section = page.split('id="points"', 1)[1].split("</article>", 1)[0]
    assert "balance 70" in section
    assert "+70" in section
    assert "Adjusted by staff" in section
    assert "(staff: welcome back)" in section
