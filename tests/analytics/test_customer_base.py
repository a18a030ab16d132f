"""The customer base report against numbers computed here, in plain Python, from the orders,
events, messages and grants the test wrote: stages and RFM scores by the plain-Python
reference of the measures (tests/reference_measures.py) at each moment, never from the
product's SQL or stored columns; the funnel, cohorts and LTV by the definitions of
analytics/customer_base.py's docstring (the README's "Customer base")."""

import csv
import io
import random
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import Message
from campaigns.services.claims import claim_coupon
from crm.models import BehaviourEvent, Customer, Order
from segments.models import Segment
from segments.rules import canonical_rules
from tests import reference_measures as reference
from tests.conftest import make_user, token_client
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
PERIOD = {"first_day": "2026-03-01", "last_day": "2026-06-30"}
START = datetime(2026, 3, 1, tzinfo=SHANGHAI)
END = datetime(2026, 7, 1, tzinfo=SHANGHAI)
EPOCH = datetime(2000, 1, 1, tzinfo=SHANGHAI)
STAGES = ["potential", "churned", "silent", "new", "mature", "declining", "growing"]
URL = "/api/v1/reports/customers/"
CENT = Decimal("0.01")


@pytest.fixture
def base(make_campaign, app_push, lenient_harassment_rules):
    """40 customers with random paid and refunded orders from 2025-09 to 2026-08, some
    registered late, some in Beijing; events, messages and grants in and around the
    period."""
    rng = random.Random(7)
    customers, orders = [], {}
    for n in range(40):
        registered = datetime(2025, 6, 1, tzinfo=SHANGHAI) + timedelta(days=rng.randrange(400))
        customer = CustomerFactory(
            customer_id=f"K{n:02d}",
            city="Beijing" if n % 4 == 0 else "Shanghai",
            registered_at=None if n % 9 == 0 else registered,
        )
        customers.append(customer)
        orders[customer.pk] = []
        for k in range(rng.randrange(6)):
            placed = datetime(2025, 9, 1, 10, tzinfo=SHANGHAI) + timedelta(
                days=rng.randrange(340), hours=rng.randrange(14)
            )
            status = "refunded" if rng.random() < 0.15 else "paid"
            amount = Decimal(rng.randrange(1000, 40000)) / 100
            Order.objects.create(
                order_id=f"K{n:02d}-{k}",
                customer=customer,
                placed_at=placed,
                amount=amount,
                status=status,
            )
            orders[customer.pk].append(reference.PlacedOrder(placed, amount, status))
    # An order at the period's very start and one at its very end (the next day's first).
    edge = customers[1]
    for order_id, moment in (("EDGE-1", START), ("EDGE-2", END)):
        Order.objects.create(
            order_id=order_id, customer=edge, placed_at=moment, amount=Decimal("50.00")
        )
        orders[edge.pk].append(reference.PlacedOrder(moment, Decimal("50.00")))
    events = []  # (customer pk, kind, moment)
    for n, kind in enumerate(["visit", "favorite", "add_to_cart", "login", "visit", "share"]):
        for moment in (START + timedelta(days=10 * n), END + timedelta(days=n)):
            customer = customers[(3 * n + 2) % 40]
            BehaviourEvent.objects.create(customer=customer, kind=kind, occurred_at=moment)
            events.append((customer.pk, kind, moment))
    campaign = make_campaign(
        claim_starts_at=datetime(2026, 2, 1, tzinfo=SHANGHAI),
        claim_ends_at=datetime(2026, 8, 1, tzinfo=SHANGHAI),
        limit_per_customer=5,
    )
    reached = []  # (customer pk, moment) of messages sent and grants
    for n, moment in enumerate(
        [START - timedelta(days=3), START + timedelta(days=4), START + timedelta(days=50)]
    ):
        customer = customers[5 + 2 * n]
        claim_coupon(
            campaign=campaign.code,
            customer=customer.customer_id,
            channel="app_push",
            trigger="login",
            idempotency_key=f"b{n}",
            now=moment,
        )
        reached.append((customer.pk, moment))
    for n, (status, moment) in enumerate(
        [("sent", START + timedelta(days=20)), ("failed", START + timedelta(days=21))]
    ):
        customer = customers[20 + n]
        Message.objects.create(
            campaign=campaign,
            customer=customer,
            channel=app_push,
            status=status,
            created_at=moment,
            due_at=moment,
            sent_at=moment if status == "sent" else None,
            failed_at=moment if status == "failed" else None,
        )
        if status == "sent":
            reached.append((customer.pk, moment))
    shanghai = Segment.objects.create(
        name="Shanghai buyers",
        rules=canonical_rules({"field": "city", "op": "in", "value": ["Shanghai"]}),
    )
    return {
        "customers": {c.pk: c for c in Customer.objects.all()},
        "orders": orders,
        "events": events,
        "reached": reached,
        "segment": shanghai,
    }


def paid_between(orders, start, end):
    return [o for o in orders if o.status == "paid" and start <= o.placed_at < end]


def expected(base, scope) -> dict:
    """The report over the customers `scope` (pks) by the definitions, in plain Python."""
    customers, orders = base["customers"], base["orders"]
    every = {pk: orders.get(pk, []) for pk in customers}
    months = [date(2026, m, 1) for m in (3, 4, 5, 6)]
    stages_by_month = []
    for month in months:
        at = datetime(2026, month.month + 1, 1, tzinfo=SHANGHAI)
        counted = Counter(
            reference.stage(every[pk], at)
            for pk in scope
            if customers[pk].registered_at is None
            or customers[pk].registered_at <= at
            or reference.paid(every[pk], at)
        )
        stages_by_month.append({"month": month.isoformat(), "stages": counted})
    flows = Counter(
        (reference.stage(every[pk], START), reference.stage(every[pk], END)) for pk in scope
    )
    scores = reference.rfm(every, END)  # scored among every buyer, then limited to scope
    rfm = Counter()
    revenue = Counter()
    for pk in scope:
        if pk in scores:
            cell = (scores[pk].recency, scores[pk].frequency)
            rfm[cell] += 1
            revenue[cell] += sum(o.amount for o in paid_between(every[pk], START, END))
    aware = {pk for pk, moment in base["reached"] if START <= moment < END}
    interested = {
        pk
        for pk, kind, moment in base["events"]
        if kind in ("visit", "favorite", "add_to_cart") and START <= moment < END
    }
    purchased = {pk for pk in every if paid_between(every[pk], START, END)}
    loyal = {pk for pk in purchased if len(paid_between(every[pk], EPOCH, END)) >= 2}

    def highest(pk) -> int:
        if pk in loyal:
            return 4
        if pk in purchased:
            return 3
        return 2 if pk in interested else 1 if pk in aware else 0

    steps = Counter(highest(pk) for pk in scope)
    reached = [sum(n for step, n in steps.items() if step >= k) for k in (1, 2, 3, 4)]
    cohorts = {}
    for pk in scope:
        paid = paid_between(every[pk], EPOCH, END)
        if not paid:
            continue
        first = min(o.placed_at for o in paid).astimezone(SHANGHAI).date().replace(day=1)
        if first in months:
            cohorts.setdefault(first, []).append(paid)
    cohort_rows = []
    for month, members in sorted(cohorts.items()):
        span = 6 - month.month + 1
        retention, ltv, total = [], [], Decimal(0)
        for k in range(span):
            this = date(2026, month.month + k, 1)
            active = sum(
                1
                for paid in members
                if any(o.placed_at.astimezone(SHANGHAI).date().replace(day=1) == this for o in paid)
            )
            retention.append(active / len(members))
            total += sum(
                o.amount
                for paid in members
                for o in paid
                if o.placed_at.astimezone(SHANGHAI).date().replace(day=1) == this
            )
            ltv.append(str((total / len(members)).quantize(CENT)))
        cohort_rows.append(
            {
                "month": month.isoformat(),
                "customers": len(members),
                "retention": retention,
                "ltv": ltv,
            }
        )
    return {
        "stages_by_month": stages_by_month,
        "flows": flows,
        "rfm": rfm,
        "revenue": revenue,
        "funnel": reached,
        "cohorts": cohort_rows,
    }


def check(body, want) -> None:
    assert [(m["month"], m["stages"]) for m in body["stages_by_month"]] == [
        (m["month"], {stage: m["stages"].get(stage, 0) for stage in STAGES})
        for m in want["stages_by_month"]
    ]
    assert (
        Counter({(f["from_stage"], f["to_stage"]): f["customers"] for f in body["flows"]})
        == want["flows"]
    )
    cells = {(c["recency"], c["frequency"]): c for c in body["rfm"]}
    assert len(cells) == 25
    for cell, row in cells.items():
        assert row["customers"] == want["rfm"].get(cell, 0), cell
        assert Decimal(row["revenue"]) == want["revenue"].get(cell, 0), cell
    assert [step["customers"] for step in body["funnel"]] == want["funnel"]
    funnel = want["funnel"]
    assert [step["conversion"] for step in body["funnel"]] == [
        None,
        *(funnel[k] / funnel[k - 1] if funnel[k - 1] else None for k in (1, 2, 3)),
    ]
    assert body["cohorts"] == want["cohorts"]


def test_the_customer_base_follows_its_definitions(base):
    client = token_client(make_user("analyst"))

    body = client.get(URL, PERIOD).json()

    assert body["customers"] == 40
    assert [m["month"] for m in body["stages_by_month"]] == [
        "2026-03-01",
        "2026-04-01",
        "2026-05-01",
        "2026-06-01",
    ]
    assert datetime.fromisoformat(body["as_of"]) == END
    check(body, expected(base, list(base["customers"])))
    assert [row["name"] for row in body["segments"]] == ["Shanghai", "Shanghai buyers"]
    assert body["segments"][0]["ltv"] == body["segments"][1]["ltv"]
    # LTV by segment: the Shanghai customers' paid GMV before the period's end, per member.
    shanghai = [pk for pk, c in base["customers"].items() if c.city == "Shanghai"]
    spent = sum(
        (o.amount for pk in shanghai for o in paid_between(base["orders"][pk], EPOCH, END)),
        Decimal(0),
    )
    # (the campaign's segment, "Shanghai", has the same members)
    assert body["segments"][1:] == [
        {
            "segment": base["segment"].pk,
            "name": "Shanghai buyers",
            "customers": len(shanghai),
            "ltv": str((spent / len(shanghai)).quantize(CENT)),
            "problem": "",
        }
    ]


def test_a_segment_limits_every_table_to_its_members(base):
    client = token_client(make_user("marketer"))

    body = client.get(URL, {**PERIOD, "segment": base["segment"].pk}).json()

    shanghai = [pk for pk, c in base["customers"].items() if c.city == "Shanghai"]
    assert body["customers"] == len(shanghai) == 30
    assert body["segment"] == base["segment"].pk
    check(body, expected(base, shanghai))


def test_bad_input_the_page_and_its_exports(base):
    client = token_client(make_user("analyst"))
    assert client.get(URL, {"segment": 999999}).status_code == 400
    backwards = client.get(URL, {"first_day": "2026-06-01", "last_day": "2026-03-01"})
    assert backwards.json() == {"last_day": ["This day is before the first day of the period."]}
    future = client.get(URL, {"first_day": (timezone.localdate() + timedelta(days=1)).isoformat()})
    assert future.json() == {"first_day": ["The period cannot start after today."]}
    assert token_client(make_user("integration")).get(URL).status_code == 403

    body = client.get(URL, PERIOD).json()
    browser = APIClient()
    browser.force_login(make_user("marketer"))
    page = browser.get(reverse("customer-base"), PERIOD)
    assert page.status_code == 200
    html = page.content.decode()
    for step in body["funnel"]:
        row = html.split(f'data-step="{step["step"]}"', 1)[1].split("</tr>", 1)[0]
        assert f'<td class="num">{step["customers"]}</td>' in row
    assert html.count("<template data-chart>") == 7
    export = browser.get(reverse("customer-base-export"), {**PERIOD, "table": "flows"})
    lines = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert [(x["from_stage"], x["to_stage"], int(x["customers"])) for x in lines] == [
        (f["from_stage"], f["to_stage"], f["customers"]) for f in body["flows"]
    ]
    cohorts = browser.get(reverse("customer-base-export"), {**PERIOD, "table": "cohorts"})
    rows = list(csv.DictReader(io.StringIO(b"".join(cohorts.streaming_content).decode())))
    assert [(r["cohort"], r["months_since"], r["ltv"]) for r in rows] == [
        (c["month"][:7], str(k), c["ltv"][k]) for c in body["cohorts"] for k in range(len(c["ltv"]))
    ]
    bad = browser.get(reverse("customer-base-export"), {**PERIOD, "table": "nope"})
    assert bad.status_code == 400
    assert b"table: Pick one of stages, flows, rfm, funnel, cohorts, segments." in bad.content
    assert browser.get(reverse("customer-base"), {"last_day": "x"}).status_code == 400
