"""The campaign report (SPEC §5 shape, §6 definitions) against a fixture whose numbers are
computed here, in plain Python, from what the test did: the claims it made, the orders it
placed, the redemptions it made and reversed, the messages it recorded.

The fixture holds what SPEC §6 singles out: a refunded order (its redemption reversed), one
order redeeming two coupons of the campaign (through two channels) and a coupon of another
campaign, one customer claiming through two channels, an order before the window and a
refunded one left out of the lift, a message sent after `as_of`; and, in a second test, an
empty holdout and zero denominators."""

import statistics
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from rest_framework.test import APIClient
from scipy.stats import t as student_t

from analytics.services.campaign_facts import build_campaign_facts
from campaigns.models import Campaign, Message
from campaigns.services import lifecycle
from campaigns.services.claims import claim_coupon
from campaigns.services.redemptions import OrderLine, redeem_coupon, restore_coupons_on_refund
from crm.models import Channel, Customer
from crm.services.imports.runs import ingest_records
from tests.campaigns.pushing import held_out
from tests.conftest import make_user, token_client
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOLDOUT_SHARE = Decimal("0.5")
NUTS = [OrderLine(sku="N1", category="nuts", quantity=1, unit_price=Decimal("50.00"))]


def money(value) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


@pytest.fixture
def audience(db):
    return [CustomerFactory(customer_id=f"R{n:03d}", city="Shanghai") for n in range(90)]


@pytest.fixture
def started(make_campaign, app_push, homepage, audience, as_of):
    """Campaign c1 started at `as_of` - 1 day (its audience recorded then, half held out),
    through app_push (off-site) and homepage (on-site); c2, another campaign, running."""
    marketer = make_user("marketer")
    start = as_of - timedelta(days=1)
    campaign = make_campaign(
        status="scheduled",
        trigger="self",
        claim_starts_at=start + timedelta(hours=1),
        claim_ends_at=as_of + timedelta(days=6),
        holdout_share=HOLDOUT_SHARE,
        channels=[app_push, homepage],
    )
    campaign = lifecycle.start_campaign(campaign=campaign, actor=marketer, now=start)
    other = make_campaign(trigger="self", business_line="drinks", channels=[app_push])
    return campaign, other


def split(campaign, audience):
    treated = [c for c in audience if not held_out(campaign.pk, c.pk, HOLDOUT_SHARE)]
    holdout = [c for c in audience if held_out(campaign.pk, c.pk, HOLDOUT_SHARE)]
    return treated, holdout


@pytest.mark.parametrize(
    "facts_built",
    [
        None,
        timedelta(hours=12, minutes=35),
        timedelta(days=1, hours=11, minutes=5),
        timedelta(days=6),
    ],
    ids=["without-facts", "facts-of-the-first-day", "facts-of-two-days", "facts-past-as-of"],
)
def test_the_report_follows_spec_6_on_a_hand_built_campaign(started, audience, as_of, facts_built):
    campaign, other = started
    start = campaign.claim_starts_at
    treated, holdout = split(campaign, audience)
    assert len(holdout) >= 30  # the fixture needs a holdout big enough for lift
    report_as_of = as_of + timedelta(days=2)
    # A customer who joins the segment after the start: the audience record adds them at
    # their claim on the second day (a treated one, to claim).
    late = next(
        customer
        for n in range(900, 999)
        if not held_out(
            campaign.pk,
            (customer := CustomerFactory(customer_id=f"R{n}", city="Shanghai")).pk,
            HOLDOUT_SHARE,
        )
    )
    audience = [*audience, late]
    treated = [*treated, late]

    # Claims: (customer, channel, moment); the third customer claims through both channels.
    claims = [
        (treated[0], "app_push", start + timedelta(hours=1)),
        (treated[1], "homepage", start + timedelta(hours=2)),
        (treated[2], "app_push", start + timedelta(hours=3)),
        (treated[2], "homepage", start + timedelta(days=1, hours=3)),
        (treated[3], "app_push", start + timedelta(hours=4)),
        (treated[4], "app_push", report_as_of + timedelta(hours=1)),  # after as_of
        (late, "homepage", start + timedelta(days=1, hours=2)),
    ]
    coupons = []
    for n, (customer, channel, moment) in enumerate(claims):
        result = claim_coupon(
            campaign=campaign.code,
            customer=customer.customer_id,
            channel=channel,
            trigger="self",
            idempotency_key=f"k{n}",
            now=moment,
        )
        coupons.append(result.coupons[0])
    other_coupon = claim_coupon(
        campaign=other.code,
        customer=treated[3].customer_id,
        channel="app_push",
        trigger="self",
        idempotency_key="other",
        now=start + timedelta(hours=4),
    ).coupons[0]

    # Orders: every audience customer's spend in and around the window, for the lift.
    orders = []  # (order_id, customer, amount, placed_at, status)
    for n, customer in enumerate(audience):
        placed = start + timedelta(hours=1 + n % 40)
        orders.append((f"P{n}", customer, Decimal(20 + (n * 37) % 90), placed, "paid"))
        if n % 7 == 0:
            orders.append((f"F{n}", customer, Decimal("500"), placed, "refunded"))
        if n % 11 == 0:
            orders.append((f"B{n}", customer, Decimal("300"), start - timedelta(days=3), "paid"))
    # The late member spends before and after joining: the lift counts both.
    orders.append(("L1", late, Decimal("70.00"), start + timedelta(days=1, hours=6), "paid"))
    # An order placed at the report's very moment counts ("at or before as_of").
    orders.append(("EXACT", treated[6], Decimal("45.00"), report_as_of, "paid"))
    # The redeeming orders: O1 (one coupon), O2 (refunded later), O3 (two coupons, through
    # two channels), O4 (a coupon of c1 and one of c2).
    redeeming = {
        "O1": (treated[0], Decimal("80.00"), start + timedelta(hours=5), [coupons[0]]),
        "O2": (treated[1], Decimal("60.00"), start + timedelta(hours=6), [coupons[1]]),
        "O3": (
            treated[2],
            Decimal("120.00"),
            start + timedelta(days=1, hours=5),
            [coupons[2], coupons[3]],
        ),
        "O4": (
            treated[3],
            Decimal("100.00"),
            start + timedelta(hours=7),
            [coupons[4], other_coupon],
        ),
    }
    for order_id, (customer, amount, placed, _) in redeeming.items():
        orders.append((order_id, customer, amount, placed, "paid"))
    ingest_records(
        kind="orders",
        items=[
            {
                "order_id": order_id,
                "customer_id": customer.customer_id,
                "placed_at": placed.isoformat(),
                "amount": str(amount),
                "status": status,
            }
            for order_id, customer, amount, placed, status in orders
        ],
        now=report_as_of + timedelta(days=1),
    )
    redemptions = []  # (coupon, order_id, amount, discount, moment, reversed)
    for order_id, (customer, amount, placed, used) in redeeming.items():
        for coupon in used:
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
            redemptions.append((coupon, order_id, amount, done.redemption.discount, placed))
    # O2 is refunded through the API, and its redemption reversed.
    customer, amount, placed, _ = redeeming["O2"]
    ingest_records(
        kind="orders",
        items=[
            {
                "order_id": "O2",
                "customer_id": customer.customer_id,
                "placed_at": placed.isoformat(),
                "amount": str(amount),
                "status": "refunded",
            }
        ],
        now=report_as_of + timedelta(days=1),
    )
    restore_coupons_on_refund(order_id="O2", now=start + timedelta(hours=30))
    reversed_orders = {"O2"}
    orders = [
        (order_id, who, total, at, "refunded" if order_id == "O2" else status)
        for order_id, who, total, at, status in orders
    ]

    # Messages recorded on app_push: three sent by as_of, one failed, one sent after.
    app_push = Channel.objects.get(code="app_push")
    sent_at = [start + timedelta(minutes=m) for m in (5, 6, 7)] + [report_as_of + timedelta(1)]
    for n, moment in enumerate(sent_at):
        Message.objects.create(
            campaign=campaign,
            customer=treated[n],
            channel=app_push,
            status="sent",
            created_at=start,
            due_at=start,
            sent_at=moment,
        )
    Message.objects.create(
        campaign=campaign,
        customer=treated[5],
        channel=app_push,
        status="failed",
        created_at=start,
        due_at=start,
        failed_at=start + timedelta(minutes=9),
    )

    # when the hourly facts were built (the report reads them for the days before their
    # end or as_of's day, whichever is first) or not, and the report is asked for
    if facts_built is not None:
        build_campaign_facts(now=start + facts_built)
    client = token_client(make_user("analyst"))
    answer = client.get(
        f"/api/v1/campaigns/{campaign.code}/report/", {"as_of": report_as_of.isoformat()}
    )

    # then: the expected numbers, from SPEC §6 over what the test did
    assert answer.status_code == 200
    body = answer.json()
    channel_of = {
        coupon.pk: channel for coupon, (_, channel, _) in zip(coupons, claims, strict=True)
    }
    claimed_at = {coupon.pk: moment for coupon, (_, _, moment) in zip(coupons, claims, strict=True)}
    live = [
        (channel_of[coupon.pk], order_id, amount, discount)
        for coupon, order_id, amount, discount, moment in redemptions
        if coupon.campaign_id == campaign.pk
        and moment <= report_as_of
        and order_id not in reversed_orders
    ]

    def expected(channel=None) -> dict:
        mine = [row for row in live if channel in (None, row[0])]
        issued = [
            c
            for c in coupons
            if claimed_at[c.pk] <= report_as_of and channel in (None, channel_of[c.pk])
        ]
        per_order = {order_id: amount for _, order_id, amount, _ in mine}
        gmv = sum(per_order.values(), Decimal(0))
        cost = sum((discount for *_, discount in mine), Decimal(0))
        delivered = 3 if channel in (None, "app_push") else 0
        failed = 1 if channel in (None, "app_push") else 0
        return {
            "delivered": delivered,
            "delivery_failed": failed,
            "claimed": len(issued),
            "redeemed": len(mine),
            "redemption_rate": len(mine) / len(issued) if issued else None,
            "gmv": money(gmv),
            "cost": money(cost),
            "roi": float(gmv) / float(cost) if cost else None,
            "aov": money(gmv / len(per_order)) if per_order else None,
        }

    for name, value in expected().items():
        assert body["total"][name] == value, name
    assert body["total"]["audience"] == len(audience)
    assert body["total"]["holdout"] == len(holdout)
    assert body["total"]["claim_rate"] == expected()["claimed"] / len(treated)
    assert [row["channel"] for row in body["channels"]] == ["app_push", "homepage"]
    for row in body["channels"]:
        for name, value in expected(row["channel"]).items():
            assert row[name] == value, (row["channel"], name)
        for name in ("audience", "holdout", "claim_rate", "lift", "lift_ci", "incremental_gmv"):
            assert row[name] is None
    # O3 counts once in each channel and once in total; O4 with c1's discount only.
    assert body["total"]["gmv"] == money(80 + 120 + 100)
    assert body["total"]["cost"] == money(4 * 10)

    # Lift: paid orders of the audience from the window's start to min(end, as_of).
    spend = {c.pk: Decimal(0) for c in audience}
    for _, customer, amount, placed, status in orders:
        if status == "paid" and start <= placed < campaign.claim_ends_at and placed <= report_as_of:
            spend[customer.pk] += amount
    t_values = [float(spend[c.pk]) for c in treated]
    h_values = [float(spend[c.pk]) for c in holdout]
    mean_t, mean_h = statistics.fmean(t_values), statistics.fmean(h_values)
    a = statistics.variance(t_values) / len(t_values)
    b = statistics.variance(h_values) / len(h_values)
    df = (a + b) ** 2 / (a**2 / (len(t_values) - 1) + b**2 / (len(h_values) - 1))
    margin = student_t.ppf(0.975, df) * (a + b) ** 0.5
    assert body["total"]["lift"] == pytest.approx((mean_t - mean_h) / mean_h, rel=1e-12)
    assert body["total"]["lift_ci"] == pytest.approx(
        [(mean_t - mean_h - margin) / mean_h, (mean_t - mean_h + margin) / mean_h], rel=1e-9
    )
    treated_mean = sum((spend[c.pk] for c in treated), Decimal(0)) / len(treated)
    holdout_mean = sum((spend[c.pk] for c in holdout), Decimal(0)) / len(holdout)
    assert body["total"]["incremental_gmv"] == money((treated_mean - holdout_mean) * len(treated))

    # Series: claims and live redemptions per Shanghai calendar day, window start to as_of.
    days = {}
    day = start.astimezone(SHANGHAI).date()
    while day <= report_as_of.astimezone(SHANGHAI).date():
        days[day.isoformat()] = {"claimed": 0, "redeemed": 0}
        day += timedelta(days=1)
    for moment in claimed_at.values():
        if moment <= report_as_of:
            days[moment.astimezone(SHANGHAI).date().isoformat()]["claimed"] += 1
    for coupon, order_id, _, _, moment in redemptions:
        if coupon.campaign_id == campaign.pk and order_id not in reversed_orders:
            days[moment.astimezone(SHANGHAI).date().isoformat()]["redeemed"] += 1
    assert body["series"] == [{"date": d, **counts} for d, counts in days.items()]

    # Burn: coupons issued by as_of and their face value (10 each).
    issued = sum(1 for moment in claimed_at.values() if moment <= report_as_of)
    assert body["burn"] == {
        "stock": campaign.stock,
        "issued": issued,
        "budget": money(campaign.budget),
        "spent": money(10 * issued),
    }
    assert body["campaign"] == campaign.code


def test_an_empty_holdout_and_no_activity_give_nulls_not_errors(make_campaign, audience, as_of):
    # given a campaign started with no holdout and nothing claimed
    campaign = make_campaign(status="scheduled", trigger="self", claim_starts_at=as_of)
    marketer = make_user("marketer")
    lifecycle.start_campaign(campaign=campaign, actor=marketer, now=as_of)

    # when
    client = token_client(marketer)
    body = client.get(f"/api/v1/campaigns/{campaign.code}/report/").json()

    # then
    total = body["total"]
    assert (total["audience"], total["holdout"], total["claimed"]) == (len(audience), 0, 0)
    assert total["claim_rate"] == 0.0
    for name in ("redemption_rate", "roi", "aov", "lift", "lift_ci", "incremental_gmv"):
        assert total[name] is None, name
    assert (total["gmv"], total["cost"]) == ("0.00", "0.00")
    # and the campaign page says why there is no lift
    browser = APIClient()
    browser.force_login(make_user("analyst"))
    html = browser.get(reverse("campaign-report-panel", args=[campaign.code])).content.decode()
    report = html.split('id="report"', 1)[1].split("</article>", 1)[0]
    assert "No lift: The holdout has 0 customers; lift needs at least 30." in report


def test_the_page_shows_the_numbers_of_the_api(started, audience, as_of):
    campaign, _ = started
    treated, _ = split(campaign, audience)
    claim_coupon(
        campaign=campaign.code,
        customer=treated[0].customer_id,
        channel="homepage",
        trigger="self",
        idempotency_key="k",
        now=campaign.claim_starts_at + timedelta(hours=1),
    )
    analyst = make_user("analyst")
    body = token_client(analyst).get(f"/api/v1/campaigns/{campaign.code}/report/").json()
    browser = APIClient()
    browser.force_login(analyst)
    html = browser.get(reverse("campaign-report-panel", args=[campaign.code])).content.decode()
    report = html.split('id="report"', 1)[1].split("</article>", 1)[0]
    claimed_row = report.split('data-measure="claimed"', 1)[1].split("</tr>", 1)[0]
    cells = [cell.split(">", 1)[1] for cell in claimed_row.split("<td")[1:]]
    assert [cell.split("<", 1)[0] for cell in cells] == [
        str(body["total"]["claimed"]),
        *(str(row["claimed"]) for row in body["channels"]),
    ]
    rate_row = report.split('data-measure="claim_rate"', 1)[1].split("</tr>", 1)[0]
    assert f"{body['total']['claim_rate']:.1%}" in rate_row
    assert f"Audience <strong>{body['total']['audience']}</strong>" in report


def test_who_reads_reports_and_bad_input(started, as_of):
    campaign, _ = started
    url = f"/api/v1/campaigns/{campaign.code}/report/"
    assert token_client(make_user("integration")).get(url).status_code == 403
    analyst = token_client(make_user("analyst"))
    bad = analyst.get(url, {"as_of": "yesterday"})
    assert bad.status_code == 400
    assert list(bad.json()) == ["as_of"]
    ancient = analyst.get(url, {"as_of": "1337-03-19T22:16:18Z"})
    assert ancient.status_code == 400
    assert ancient.json() == {"as_of": ["Give a moment from 1970 to 2099."]}
    assert analyst.get("/api/v1/campaigns/nope/report/").status_code == 404
    assert Customer.objects.count() == 90
    assert Campaign.objects.count() == 2
