"""The campaigns overview (issue: campaigns side by side for a period, a per-channel roll-up)
against numbers computed here, in plain Python, from the claims and redemptions the test
made: SPEC §6's definitions at the period's end, an order redeeming coupons of two campaigns
through one channel counted once in that channel and once over all."""

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.services.campaign_facts import build_campaign_facts
from campaigns.services.claims import claim_coupon
from campaigns.services.redemptions import OrderLine, redeem_coupon, restore_coupons_on_refund
from crm.services.imports.runs import ingest_records
from tests.conftest import make_user, token_client
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NUTS = [OrderLine(sku="N1", category="nuts", quantity=1, unit_price=Decimal("50.00"))]
# The period: 25 June to 5 July 2026, Shanghai days; it ends at 2026-07-05 16:00 UTC.
PERIOD = {"first_day": "2026-06-25", "last_day": "2026-07-05"}
PERIOD_END = datetime(2026, 7, 6, tzinfo=SHANGHAI)
URL = "/api/v1/reports/campaigns/"


def money(value) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


@pytest.fixture
def shop(make_campaign, app_push, homepage, as_of):
    """c1 (snacks, app_push + homepage) and c2 (drinks, app_push) open in the period, c3
    closed before it, c4 a draft in it; claims, redemptions and a refund as listed."""
    customers = [CustomerFactory(customer_id=f"V{n:02d}", city="Shanghai") for n in range(6)]
    c1 = make_campaign(code="c1", name="Snack week", channels=[app_push, homepage])
    c2 = make_campaign(code="c2", name="=Drinks", business_line="drinks", channels=[app_push])
    c3 = make_campaign(
        code="c3",
        claim_starts_at=datetime(2026, 5, 1, tzinfo=SHANGHAI),
        claim_ends_at=datetime(2026, 5, 10, tzinfo=SHANGHAI),
        status="finished",
    )
    c4 = make_campaign(code="c4", status="draft")
    start = as_of - timedelta(hours=12)
    claims = [  # (campaign, customer, channel, moment)
        (c1, customers[0], "app_push", start),
        (c1, customers[1], "homepage", start + timedelta(hours=1)),
        (c1, customers[2], "app_push", start + timedelta(hours=2)),
        (c2, customers[0], "app_push", start + timedelta(hours=3)),
        (c2, customers[3], "app_push", start + timedelta(hours=4)),
        (c1, customers[4], "homepage", PERIOD_END + timedelta(minutes=30)),  # after the period
    ]
    coupons = []
    for n, (campaign, customer, channel, moment) in enumerate(claims):
        coupon = claim_coupon(
            campaign=campaign.code,
            customer=customer.customer_id,
            channel=channel,
            trigger="login",
            idempotency_key=f"k{n}",
            now=moment,
        ).coupons[0]
        coupons.append((campaign.code, channel, coupon, customer, moment))
    # Orders: O1 redeems c1's and c2's app_push coupons, O2 c1's homepage coupon, O3 c2's
    # second coupon and is refunded; O4 redeems c1's third coupon after the period.
    orders = {
        "O1": (customers[0], Decimal("90.00"), start + timedelta(hours=5), [0, 3]),
        "O2": (customers[1], Decimal("55.00"), start + timedelta(hours=6), [1]),
        "O3": (customers[3], Decimal("70.00"), start + timedelta(hours=7), [4]),
        "O4": (customers[2], Decimal("65.00"), PERIOD_END + timedelta(hours=1), [2]),
    }
    ingest_records(
        kind="orders",
        items=[
            {
                "order_id": order_id,
                "customer_id": customer.customer_id,
                "placed_at": placed.isoformat(),
                "amount": str(amount),
                "status": "paid",
            }
            for order_id, (customer, amount, placed, _) in orders.items()
        ],
        now=PERIOD_END + timedelta(days=1),
    )
    redemptions = []  # (campaign code, channel, order id, amount, discount, moment, live)
    for order_id, (customer, amount, placed, used) in orders.items():
        for index in used:
            code, channel, coupon, _, _ = coupons[index]
            done = redeem_coupon(
                code=coupon.code,
                customer=customer,
                order_id=order_id,
                amount=amount,
                items=NUTS,
                store="",
                city="Shanghai",
                now=placed,
            )
            redemptions.append([code, channel, order_id, amount, done.redemption.discount, placed])
    restore_coupons_on_refund(order_id="O3", now=start + timedelta(hours=8))
    live = [
        tuple(row)
        for row in redemptions
        if row[2] != "O3" and row[5] < PERIOD_END  # refunded, or after the period
    ]
    return {"campaigns": (c1, c2, c3, c4), "coupons": coupons, "live": live}


def expected(shop, *, campaign=None, channel=None) -> dict:
    """SPEC §6's measures at the period's end over the test's own records."""
    issued = [
        c
        for c in shop["coupons"]
        if c[4] < PERIOD_END and campaign in (None, c[0]) and channel in (None, c[1])
    ]
    mine = [r for r in shop["live"] if campaign in (None, r[0]) and channel in (None, r[1])]
    per_order = {r[2]: r[3] for r in mine}  # each order once
    gmv = sum(per_order.values(), Decimal(0))
    cost = sum((r[4] for r in mine), Decimal(0))
    return {
        "claimed": len(issued),
        "redeemed": len(mine),
        "redemption_rate": len(mine) / len(issued) if issued else None,
        "gmv": money(gmv),
        "cost": money(cost),
        "roi": float(gmv) / float(cost) if cost else None,
        "aov": money(gmv / len(per_order)) if per_order else None,
    }


@pytest.mark.parametrize(
    "facts_built",
    [None, timedelta(days=-5), timedelta(days=2)],
    ids=["without-facts", "facts-within-the-period", "facts-past-its-end"],
)
def test_the_overview_lists_the_period_s_campaigns_with_spec_measures(shop, facts_built):
    # given the campaigns' hourly facts built at a moment around the period's end, or none
    if facts_built is not None:
        build_campaign_facts(now=PERIOD_END + facts_built)
    client = token_client(make_user("analyst"))

    body = client.get(URL, PERIOD).json()

    assert (body["first_day"], body["last_day"]) == ("2026-06-25", "2026-07-05")
    assert datetime.fromisoformat(body["as_of"]) == PERIOD_END
    # c3 closed before the period; c4 is a draft. Default order: GMV, highest first.
    assert [row["campaign"] for row in body["campaigns"]] == ["c1", "c2"]
    for row in body["campaigns"]:
        for name, value in expected(shop, campaign=row["campaign"]).items():
            assert row[name] == value, (row["campaign"], name)
        # a row is the campaign's report at the period's end
        report = client.get(
            f"/api/v1/campaigns/{row['campaign']}/report/", {"as_of": body["as_of"]}
        ).json()["total"]
        assert {name: row[name] for name in report} == report
    # Per channel across campaigns: O1 redeems c1's and c2's app_push coupons, once.
    assert [row["channel"] for row in body["channels"]] == ["app_push", "homepage"]
    for row in body["channels"]:
        for name, value in expected(shop, channel=row["channel"]).items():
            assert row[name] == value, (row["channel"], name)
        assert (row["audience"], row["lift"], row["claim_rate"]) == (None, None, None)
    assert body["channels"][0]["gmv"] == money(90)
    assert body["channels"][0]["cost"] == money(20)
    # Over all: O1 and O2 once each.
    for name, value in expected(shop).items():
        assert body["total"][name] == value, name
    assert body["total"]["gmv"] == money(90 + 55)


def test_filters_ordering_and_bad_input(shop):
    client = token_client(make_user("marketer"))

    def codes(**query):
        answer = client.get(URL, {**PERIOD, **query})
        assert answer.status_code == 200, answer.content
        return [row["campaign"] for row in answer.json()["campaigns"]]

    assert codes(business_line="DRINKS") == ["c2"]
    assert codes(channel="homepage") == ["c1"]
    assert codes(status="draft") == ["c4"]
    assert codes(campaign_type="targeted") == ["c1", "c2"]
    assert codes(campaign_type="special") == []
    assert codes(ordering="code") == ["c1", "c2"]
    assert codes(ordering="-code") == ["c2", "c1"]
    assert codes(ordering="redeemed") == ["c2", "c1"]  # c2: 1 live redemption, c1: 2
    assert codes(first_day="2026-05-01", last_day="2026-05-31") == ["c3"]

    backwards = client.get(URL, {"first_day": "2026-07-05", "last_day": "2026-06-25"})
    assert backwards.status_code == 400
    assert backwards.json() == {"last_day": ["This day is before the first day of the period."]}
    garbage = client.get(URL, {"first_day": "soon", "channel": "fax"})
    assert garbage.status_code == 400
    assert sorted(garbage.json()) == ["channel", "first_day"]
    ancient = client.get(URL, {"first_day": "1900-01-01"})
    assert ancient.json() == {"first_day": ["Pick a day from 1970-01-01 to 2099-12-31."]}
    assert token_client(make_user("integration")).get(URL).status_code == 403


def test_the_page_and_its_exports_show_the_api_s_numbers(shop):
    analyst = make_user("analyst")
    body = token_client(analyst).get(URL, PERIOD).json()
    browser = APIClient()
    browser.force_login(analyst)

    page = browser.get(reverse("campaign-overview"), PERIOD)

    assert page.status_code == 200
    html = page.content.decode()
    table = html.split('id="overview-campaigns"', 1)[1].split("</table>", 1)[0]
    for row in body["campaigns"]:
        cells = table.split(f'data-campaign="{row["campaign"]}"', 1)[1].split("</tr>", 1)[0]
        assert f'data-measure="gmv">{Decimal(row["gmv"]):,.2f}<' in cells
        assert f'data-measure="claimed">{row["claimed"]}<' in cells
    best = max((row for row in body["channels"] if row["roi"] is not None), key=lambda r: r["roi"])
    assert f'data-best-channel="{best["channel"]}"' in html

    export = browser.get(reverse("campaign-overview-export"), PERIOD)
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert [row["campaign"] for row in rows] == ["c1", "c2"]
    assert rows[1]["name"] == "'=Drinks"  # a formula in a name is neutralised
    for line, row in zip(rows, body["campaigns"], strict=True):
        assert line["gmv"] == row["gmv"]
        assert line["redeemed"] == str(row["redeemed"])
        assert line["roi"] == ("" if row["roi"] is None else str(row["roi"]))
    channels = browser.get(reverse("campaign-overview-export"), {**PERIOD, "table": "channels"})
    lines = list(csv.DictReader(io.StringIO(b"".join(channels.streaming_content).decode())))
    assert [(line["channel"], line["gmv"], line["cost"]) for line in lines] == [
        (row["channel"], row["gmv"], row["cost"]) for row in body["channels"]
    ]

    # Without days, the page reports on the last 30 and shows them in its date fields.
    today = timezone.localdate()
    default = browser.get(reverse("campaign-overview")).content.decode()
    assert f'name="first_day" value="{today - timedelta(days=29)}"' in default
    assert f'name="last_day" value="{today}"' in default
    for name in ("status", "business_line", "campaign_type", "channel", "trigger", "q"):
        assert f'name="{name}"' in default, name

    bad = browser.get(reverse("campaign-overview"), {"last_day": "someday"})
    assert bad.status_code == 400
    assert "Enter a valid date." in bad.content.decode()
    bad_export = browser.get(reverse("campaign-overview-export"), {"last_day": "someday"})
    assert bad_export.status_code == 400
    assert b"last_day: Enter a valid date." in bad_export.content


def test_a_campaign_report_exports_its_table_and_series(shop):
    c1 = shop["campaigns"][0]
    browser = APIClient()
    browser.force_login(make_user("marketer"))
    body = token_client(make_user("analyst")).get(f"/api/v1/campaigns/{c1.code}/report/").json()

    export = browser.get(reverse("campaign-report-export", args=[c1.code]))
    lines = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert [line["channel"] for line in lines] == ["total", "app_push", "homepage"]
    for line, measures in zip(lines, [body["total"], *body["channels"]], strict=True):
        assert line["claimed"] == str(measures["claimed"])
        assert line["gmv"] == measures["gmv"]
    series = browser.get(reverse("campaign-report-export", args=[c1.code]), {"table": "series"})
    days = list(csv.DictReader(io.StringIO(b"".join(series.streaming_content).decode())))
    assert [
        {"date": d["date"], "claimed": int(d["claimed"]), "redeemed": int(d["redeemed"])}
        for d in days
    ] == body["series"]
    assert browser.get(reverse("campaign-report-export", args=["nope"])).status_code == 404
