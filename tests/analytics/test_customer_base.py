"""The customer base report against numbers computed here, in plain Python, from the orders,
events, messages and grants the test wrote: stages and RFM scores by the plain-Python
reference of the measures (tests/reference_measures.py) at each moment, never from the
product's SQL or stored columns; the funnel, cohorts and LTV by the definitions of
analytics/customer_base.py's docstring (the README's "Customer base")."""

import csv
import io
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from tests import reference_measures as reference
from tests.analytics.conftest import END, SHANGHAI
from tests.conftest import make_user, token_client

pytestmark = pytest.mark.django_db

PERIOD = {"first_day": "2026-03-01", "last_day": "2026-06-30"}
EPOCH = datetime(2000, 1, 1, tzinfo=SHANGHAI)
STAGES = ["potential", "churned", "silent", "new", "mature", "declining", "growing"]
URL = "/api/v1/reports/customers/"
CENT = Decimal("0.01")


def paid_between(orders, start, end):
    return [o for o in orders if o.status == "paid" and start <= o.placed_at < end]


def expected(base, scope, months=(3, 4, 5, 6), end=END) -> dict:
    """The report over the customers `scope` (pks) by the definitions, in plain Python, for
    the period of 2026's `months` read at `end` (their end, or a moment in the last)."""
    customers, orders = base["customers"], base["orders"]
    every = {pk: orders.get(pk, []) for pk in customers}
    start = datetime(2026, months[0], 1, tzinfo=SHANGHAI)
    months = [date(2026, m, 1) for m in months]
    stages_by_month = []
    for month in months:
        at = min(datetime(2026, month.month + 1, 1, tzinfo=SHANGHAI), end)
        counted = Counter(
            reference.stage(every[pk], at)
            for pk in scope
            if customers[pk].registered_at is None
            or customers[pk].registered_at <= at
            or reference.paid(every[pk], at)
        )
        stages_by_month.append({"month": month.isoformat(), "stages": counted})
    flows = Counter(
        (reference.stage(every[pk], start), reference.stage(every[pk], end)) for pk in scope
    )
    scores = reference.rfm(every, end)  # scored among every buyer, then limited to scope
    rfm = Counter()
    revenue = Counter()
    for pk in scope:
        if pk in scores:
            cell = (scores[pk].recency, scores[pk].frequency)
            rfm[cell] += 1
            revenue[cell] += sum(o.amount for o in paid_between(every[pk], start, end))
    aware = {pk for pk, moment in base["reached"] if start <= moment < end}
    interested = {
        pk
        for pk, kind, moment in base["events"]
        if kind in ("visit", "favorite", "add_to_cart") and start <= moment < end
    }
    purchased = {pk for pk in every if paid_between(every[pk], start, end)}
    loyal = {pk for pk in purchased if len(paid_between(every[pk], EPOCH, end)) >= 2}

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
        paid = paid_between(every[pk], EPOCH, end)
        if not paid:
            continue
        first = min(o.placed_at for o in paid).astimezone(SHANGHAI).date().replace(day=1)
        if first in months:
            cohorts.setdefault(first, []).append(paid)
    cohort_rows = []
    for month, members in sorted(cohorts.items()):
        span = months[-1].month - month.month + 1
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


def shanghai_buyers_ltv(base, end) -> dict:
    """LTV by segment's row of "Shanghai buyers" at `end`: the Shanghai customers' paid GMV
    before it, per member."""
    shanghai = [pk for pk, c in base["customers"].items() if c.city == "Shanghai"]
    spent = sum(
        (o.amount for pk in shanghai for o in paid_between(base["orders"][pk], EPOCH, end)),
        Decimal(0),
    )
    return {
        "segment": base["segment"].pk,
        "name": "Shanghai buyers",
        "customers": len(shanghai),
        "ltv": str((spent / len(shanghai)).quantize(CENT)),
        "problem": "",
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
    # (the campaign's segment, "Shanghai", has the same members)
    assert body["segments"][1:] == [shanghai_buyers_ltv(base, END)]


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
