"""The campaigns' hourly facts (analytics.services.campaign_facts) behind the campaign report:
what happens after a build is counted from the rows themselves, a reversal after it takes
back a redemption the facts counted, and the page says which hours the facts gave. The
expected numbers come from what the test did (SPEC §6), never from the facts.

tests/analytics/test_campaign_report.py and test_campaign_overview.py run their whole
fixtures with facts built at several moments as well."""

import statistics
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from analytics.models import CampaignFacts, CampaignHourFact
from analytics.services.campaign_facts import build_campaign_facts
from campaigns.models import Grant
from campaigns.services import lifecycle
from campaigns.services.claims import claim_coupon
from campaigns.services.push_delivery import sweep_pushes
from campaigns.services.redemptions import redeem_coupon, restore_coupons_on_refund
from crm.services.imports.runs import ingest_records
from tests.analytics.test_campaign_report import HOLDOUT_SHARE, NUTS, SHANGHAI, money
from tests.campaigns.pushing import held_out, start
from tests.conftest import make_user, token_client
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def import_orders(rows, now):
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
            for order_id, customer, amount, placed, status in rows
        ],
        now=now,
    )


def lift_of(orders, treated, holdout, start, end, as_of):
    """SPEC §6's lift over (order_id, customer, amount, placed_at, status) rows."""
    spend = {c.pk: Decimal(0) for c in [*treated, *holdout]}
    for _, customer, amount, placed, status in orders:
        if status == "paid" and start <= placed < end and placed <= as_of:
            spend[customer.pk] += amount
    mean_t = statistics.fmean(float(spend[c.pk]) for c in treated)
    mean_h = statistics.fmean(float(spend[c.pk]) for c in holdout)
    return (mean_t - mean_h) / mean_h


@pytest.fixture
def campaign(make_campaign, app_push, homepage, as_of):
    audience = [CustomerFactory(customer_id=f"A{n:03d}", city="Shanghai") for n in range(80)]
    # Opening at 10:00 in Shanghai, so its first hours are one operator day.
    start = as_of - timedelta(hours=10)
    campaign = make_campaign(
        status="scheduled",
        trigger="self",
        claim_starts_at=start,
        claim_ends_at=start + timedelta(days=10),
        holdout_share=HOLDOUT_SHARE,
        channels=[app_push, homepage],
    )
    campaign = lifecycle.start_campaign(campaign=campaign, actor=make_user("marketer"), now=start)
    treated = [c for c in audience if not held_out(campaign.pk, c.pk, HOLDOUT_SHARE)]
    holdout = [c for c in audience if held_out(campaign.pk, c.pk, HOLDOUT_SHARE)]
    assert len(holdout) >= 30
    return campaign, treated, holdout


def claim(campaign, customer, channel, moment, key):
    return claim_coupon(
        campaign=campaign.code,
        customer=customer.customer_id,
        channel=channel,
        trigger="self",
        idempotency_key=key,
        now=moment,
    ).coupons[0]


def redeem(coupon, customer, order_id, amount, moment):
    return redeem_coupon(
        code=coupon.code,
        customer=customer,
        order_id=order_id,
        amount=amount,
        items=NUTS,
        store="",
        city="Shanghai",
        now=moment,
    ).redemption


def test_what_happens_after_a_build_counts_and_a_refund_takes_back_what_the_facts_counted(
    campaign, as_of
):
    campaign, treated, holdout = campaign
    start = campaign.claim_starts_at
    # given a first day: two claims, O1 redeeming one, O2 redeeming the other and a spend
    first = [
        claim(campaign, treated[0], "app_push", start + timedelta(hours=1), "k0"),
        claim(campaign, treated[1], "homepage", start + timedelta(hours=2), "k1"),
    ]
    orders = [
        ("O1", treated[0], Decimal("80.00"), start + timedelta(hours=3), "paid"),
        ("O2", treated[1], Decimal("60.00"), start + timedelta(hours=4), "paid"),
        ("H1", holdout[0], Decimal("40.00"), start + timedelta(hours=5), "paid"),
    ]
    import_orders(orders, now=start + timedelta(hours=6))
    redeem(first[0], treated[0], "O1", Decimal("80.00"), start + timedelta(hours=3))
    redeem(first[1], treated[1], "O2", Decimal("60.00"), start + timedelta(hours=4))
    # and the facts built the next morning, holding every hour before its own
    next_morning = start + timedelta(days=1)
    until = build_campaign_facts(now=next_morning + timedelta(minutes=20))
    assert until == next_morning
    assert CampaignHourFact.objects.filter(campaign=campaign, redeemed__gt=0).exists()

    # when the next day brings a claim and its redemption, and spends of members the facts
    # hold (holdout[0] spent before too) and of one they do not
    later = claim(campaign, treated[2], "app_push", next_morning + timedelta(hours=1), "k2")
    new_orders = [
        ("O3", treated[2], Decimal("50.00"), next_morning + timedelta(hours=2), "paid"),
        ("H2", holdout[0], Decimal("25.00"), next_morning + timedelta(hours=3), "paid"),
        ("H3", holdout[1], Decimal("35.00"), next_morning + timedelta(hours=3), "paid"),
    ]
    import_orders(new_orders, now=next_morning + timedelta(hours=3))
    redeem(later, treated[2], "O3", Decimal("50.00"), next_morning + timedelta(hours=2))
    report_as_of = next_morning + timedelta(hours=5)
    reader = make_user("analyst")
    analyst = token_client(reader)
    url = f"/api/v1/campaigns/{campaign.code}/report/"
    before_refund = analyst.get(url, {"as_of": report_as_of.isoformat()}).json()["total"]

    # then the lift adds what they spent since to what the facts hold
    everything = [*orders, *new_orders]
    end = campaign.claim_ends_at
    assert before_refund["lift"] == pytest.approx(
        lift_of(everything, treated, holdout, start, end, report_as_of), rel=1e-12
    )
    assert (before_refund["redeemed"], before_refund["gmv"]) == (3, money(190))

    # when O1, which the facts counted, is refunded and its redemption reversed
    import_orders(
        [("O1", treated[0], Decimal("80.00"), start + timedelta(hours=3), "refunded")],
        now=next_morning + timedelta(hours=4),
    )
    restore_coupons_on_refund(order_id="O1", now=next_morning + timedelta(hours=4))
    body = analyst.get(url, {"as_of": report_as_of.isoformat()}).json()

    # then the redemptions are exact: O2 and O3 live, O1 reversed after the build
    total = body["total"]
    assert (total["claimed"], total["redeemed"]) == (3, 2)
    assert (total["gmv"], total["cost"], total["aov"]) == (money(110), money(20), money(55))
    channels = {row["channel"]: row for row in body["channels"]}
    assert (channels["app_push"]["claimed"], channels["app_push"]["redeemed"]) == (2, 1)
    assert channels["app_push"]["gmv"] == money(50)
    assert (channels["homepage"]["claimed"], channels["homepage"]["gmv"]) == (1, money(60))
    day_one = start.astimezone(SHANGHAI).date()
    days = [(day_one + timedelta(days=n)).isoformat() for n in range(2)]
    assert body["series"] == [
        {"date": days[0], "claimed": 2, "redeemed": 1},
        {"date": days[1], "claimed": 1, "redeemed": 1},
    ]
    assert body["burn"]["issued"] == 3
    # and so is the lift: an order the facts counted changed since their build, so the
    # campaign's spend is read from the rows
    refunded = [*orders[1:], *new_orders]
    assert total["lift"] == pytest.approx(
        lift_of(refunded, treated, holdout, start, end, report_as_of), rel=1e-12
    )
    # and the page says up to when the facts were read, and when they were built
    browser = APIClient()
    browser.force_login(reader)
    html = browser.get(reverse("campaign-report-panel", args=[campaign.code])).content.decode()
    assert (
        f"activity before {until.astimezone(SHANGHAI):%Y-%m-%d %H:%M} from the hourly facts "
        f"built {next_morning.astimezone(SHANGHAI):%Y-%m-%d} 10:20"
    ) in html

    # when the facts are built again, O1 is refunded in them, and they give the same
    build_campaign_facts(now=report_as_of)
    again = analyst.get(url, {"as_of": report_as_of.isoformat()}).json()["total"]
    assert again["lift"] == pytest.approx(
        lift_of(refunded, treated, holdout, start, end, report_as_of), rel=1e-12
    )
    assert {k: again[k] for k in ("claimed", "redeemed", "gmv", "cost")} == {
        k: total[k] for k in ("claimed", "redeemed", "gmv", "cost")
    }


def test_facts_of_another_claim_window_are_not_read(campaign, as_of):
    campaign, treated, holdout = campaign
    start = campaign.claim_starts_at
    orders = [
        ("T1", treated[0], Decimal("30.00"), start + timedelta(hours=1), "paid"),
        ("T2", treated[1], Decimal("90.00"), start + timedelta(hours=30), "paid"),
        ("H1", holdout[0], Decimal("20.00"), start + timedelta(hours=26), "paid"),
    ]
    import_orders(orders, now=start + timedelta(days=3))
    build_campaign_facts(now=start + timedelta(days=3))
    # when the window is moved to start a day later (the lift's spend is summed over it)
    new_start = start + timedelta(days=1)
    type(campaign).objects.filter(pk=campaign.pk).update(claim_starts_at=new_start)
    report_as_of = start + timedelta(days=2)
    body = (
        token_client(make_user("analyst"))
        .get(f"/api/v1/campaigns/{campaign.code}/report/", {"as_of": report_as_of.isoformat()})
        .json()
    )
    # then the lift is the new window's: only T2 counts
    assert body["total"]["lift"] == pytest.approx(
        lift_of(orders, treated, holdout, new_start, campaign.claim_ends_at, report_as_of),
        rel=1e-12,
    )
    assert CampaignFacts.objects.get(campaign=campaign).claim_starts_at == start


def test_a_push_grant_moved_to_another_channel_after_a_build_counts_in_its_new_one(
    push_campaign, app_push, marketer, django_capture_on_commit_callbacks
):
    # given quiet hours on app_push and a push at 22:30: the app push waits for 08:00, so
    # the grant belongs to WeChat, whose message went at once
    app_push.quiet_hours_start, app_push.quiet_hours_end = time(22), time(8)
    app_push.save()
    CustomerFactory(customer_id="Q1", consent={"app_push": True, "wechat_oa": True})
    now = datetime(2026, 7, 1, 22, 30, tzinfo=SHANGHAI)
    campaign = push_campaign(
        claim_starts_at=now + timedelta(hours=1), claim_ends_at=now + timedelta(days=3)
    )
    start(campaign, marketer, now, django_capture_on_commit_callbacks)
    grant = Grant.objects.select_related("channel").get(campaign=campaign)
    assert grant.channel.code == "wechat_oa"
    # and the facts built at 23:20, holding the grant under WeChat
    build_campaign_facts(now=now + timedelta(minutes=50))

    # when the app push goes at 08:00, which moves the grant to app_push (the campaign's
    # first channel that reached the customer)
    sweep_pushes(now=datetime(2026, 7, 2, 8, 0, tzinfo=SHANGHAI))
    grant.refresh_from_db()
    assert grant.channel_id == app_push.pk
    body = (
        token_client(make_user("analyst"))
        .get(
            f"/api/v1/campaigns/{campaign.code}/report/",
            {"as_of": datetime(2026, 7, 2, 9, 0, tzinfo=SHANGHAI).isoformat()},
        )
        .json()
    )

    # then the report counts the grant in its new channel, not in the facts' old one
    claimed = {row["channel"]: (row["claimed"], row["delivered"]) for row in body["channels"]}
    assert claimed == {"app_push": (1, 1), "wechat_oa": (0, 1)}
