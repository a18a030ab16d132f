"""`make demo` prepares a living shop: campaigns in every status with a history made by the
claim engine and the redemption service, the logins, and a claim that answers 201 exactly
as printed (200 with the same coupon again); a rerun keeps the data and schedules a fresh
campaign that opens a few minutes later. (CI runs the whole `make demo` with its
processes: .ci/demo_smoke.sh.)"""

import json
import re
import shlex
from datetime import datetime, time, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db.models import Count, Q
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import Campaign, Coupon, Grant, Message, Redemption
from crm.models import Customer, Order, PointsEntry

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def prepare_demo() -> str:
    out = StringIO()
    call_command("demo", "--prepare-only", "--customers=120", stdout=out)
    return out.getvalue()


def printed_claim(printed: str) -> tuple[str, str, dict]:
    """The URL, token and JSON body of the printed curl command."""
    words = shlex.split(next(line for line in printed.splitlines() if line.startswith("curl ")))
    url = next(word for word in words if word.startswith("http://"))
    token = words[words.index("-H") + 1].removeprefix("Authorization: Token ")
    body = json.loads(words[words.index("-d") + 1])
    return url, token, body


def test_the_demo_has_campaigns_in_every_status_with_grants_redemptions_and_a_refund():
    # when
    started = timezone.now()
    printed = prepare_demo()

    # then
    statuses = dict(
        Campaign.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    assert statuses == {
        "draft": 1,
        "scheduled": 1,
        "running": 6,
        "paused": 1,
        "finished": 1,
        "cancelled": 1,
    }
    running = Campaign.objects.get(status="running", trigger="self")
    channels = set(Grant.objects.filter(campaign=running).values_list("channel__code", flat=True))
    assert len(channels) >= 2
    finished = Campaign.objects.get(status="finished")
    assert finished.holdout_share > 0
    assert Grant.objects.filter(campaign=finished).exists()
    assert Redemption.objects.filter(reversed_at__isnull=True).exists()
    refunded = Redemption.objects.get(reversed_at__isnull=False)
    assert Order.objects.get(order_id=refunded.order_id).status == "refunded"
    assert refunded.coupon.status in {"unused", "expired"}
    # Support gave the refunded customer 100 goodwill points: a row of their points ledger.
    goodwill = PointsEntry.objects.get(reason="adjustment")
    assert (goodwill.customer_id, goodwill.change) == (refunded.customer_id, 100)
    assert goodwill.reference.endswith(": sorry about the refunded order")
    assert goodwill.balance == Customer.objects.get(pk=refunded.customer_id).points
    for campaign in Campaign.objects.exclude(status__in=["draft", "scheduled", "cancelled"]):
        # Counters written by the engine agree with the rows it wrote.
        assert campaign.issued_count == Coupon.objects.filter(campaign=campaign).count()
    # The birthday campaign granted the members born in its 60 days so far, once each.
    birthdays = Grant.objects.filter(campaign__trigger="birthday")
    assert birthdays.exists()
    assert all(
        (grant.customer.birth_date.month, grant.customer.birth_date.day) == (local.month, local.day)
        for grant in birthdays.select_related("customer")
        for local in [timezone.localtime(grant.granted_at)]
        if (grant.customer.birth_date.month, grant.customer.birth_date.day) != (2, 29)
    )
    assert birthdays.values("customer").distinct().count() == birthdays.count()
    # The welcome campaign granted the customers whose first paid order came after it opened.
    welcome = Campaign.objects.get(trigger="first_order")
    gifted = Grant.objects.filter(campaign=welcome).select_related("customer")
    assert gifted.exists()
    assert all(grant.customer.first_order_at >= welcome.claim_starts_at for grant in gifted)
    # The Friday push reached its whole audience: each treated member granted once, one
    # message per member and channel, the SMS sent after the quiet hours (22:30 -> 08:00).
    push = Campaign.objects.get(trigger="scheduled_push", status="running")
    treated = set(push.audience.filter(treated=True).values_list("customer_id", flat=True))
    assert treated
    assert sorted(Grant.objects.filter(campaign=push).values_list("customer_id", flat=True)) == (
        sorted(treated)
    )
    assert Message.objects.filter(campaign=push).count() == 3 * len(treated)
    # Who gets an SMS depends on the generated consents: each consented member's SMS waited
    # for 08:00 (or hit the daily cap), each other member's was suppressed for consent.
    sms = Message.objects.filter(campaign=push, channel__code="sms").select_related("customer")
    assert {m.customer_id for m in sms} == treated
    for message in sms:
        if message.customer.consent.get("sms") is True:
            assert (message.status, message.reason) in {
                ("sent", "quiet_hours"),
                ("suppressed", "daily_cap"),
            }
            if message.status == "sent":
                assert timezone.localtime(message.sent_at).hour == 8
        else:
            assert (message.status, message.reason) == ("suppressed", "no_consent")
    # The random red envelope drew amounts in its range, within its budget.
    envelope = Campaign.objects.get(code="lucky-envelope")
    amounts = list(Coupon.objects.filter(campaign=envelope).values_list("face_value", flat=True))
    assert len(set(amounts)) > 10
    assert all(Decimal("0.50") <= amount <= Decimal("8.88") for amount in amounts)
    assert envelope.spent == sum(amounts) <= envelope.budget
    # The shared envelope's repeated claims decayed (SPEC §4): a member's 1st claim the
    # template's 8.88, the 2nd 8.88 x 0.5, the 3rd the floor of 1.00.
    shared = Campaign.objects.get(code="share-envelope")
    ladders: dict[int, list[Decimal]] = {}
    for customer, amount in (
        Coupon.objects.filter(campaign=shared)
        .order_by("id")
        .values_list("customer_id", "face_value")
    ):
        ladders.setdefault(customer, []).append(amount)
    full = Decimal("8.88")
    assert {1, 2} <= {len(amounts) for amounts in ladders.values()} <= {1, 2, 3}
    ladder = [full, (full * Decimal("0.5")).quantize(Decimal("0.01")), Decimal("1.00")]
    for amounts in ladders.values():
        assert amounts == ladder[: len(amounts)]
    # The reports open on real numbers: the default overview (the last 30 days) lists the
    # campaigns with redemptions, and the live monitor every running campaign.
    analyst = APIClient()
    analyst.force_login(User.objects.get(username="analyst"))  # the demo's own login
    overview = analyst.get("/api/v1/reports/campaigns/").json()
    today = timezone.localdate()
    first = timezone.make_aware(datetime.combine(today - timedelta(days=29), time.min))
    last = timezone.make_aware(datetime.combine(today + timedelta(days=1), time.min))
    in_period = [
        c.pk
        for c in Campaign.objects.exclude(status="draft")
        if c.claim_starts_at < last and c.claim_ends_at > first
    ]
    live_gmv = sum(
        {
            r.order_id: r.order_amount
            for r in Redemption.objects.select_related("coupon")
            if r.reversed_at is None and r.coupon.campaign_id in in_period
        }.values(),
        Decimal(0),
    )
    assert Decimal(overview["total"]["gmv"]) == live_gmv > 0
    assert {row["channel"] for row in overview["channels"]} >= channels
    live = analyst.get("/api/v1/reports/live/").json()
    assert {row["campaign"] for row in live["campaigns"]} == set(
        Campaign.objects.filter(status="running").values_list("code", flat=True)
    )
    scheduled = Campaign.objects.get(status="scheduled")
    assert started + timedelta(minutes=3) <= scheduled.claim_starts_at
    assert scheduled.claim_starts_at <= timezone.now() + timedelta(minutes=3)
    assert f"Campaign {scheduled.code} is scheduled to open at " in printed
    assert re.search(r"^\s+admin\s+login: admin\s+password: \S+$", printed, re.M)
    assert re.search(r"^\s+marketer API token: \w{40}$", printed, re.M)
    assert re.search(r"^\s+integration API token: \w{40}$", printed, re.M)


def test_the_printed_claim_answers_201_and_then_200_with_the_same_coupon():
    # given
    printed = prepare_demo()
    url, token, body = printed_claim(printed)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    path = url.split("127.0.0.1:8000", 1)[1]

    # when
    first = client.post(path, body, format="json")
    second = client.post(path, body, format="json")

    # then
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["code"] == second.json()["code"]
    assert first.json()["customer"] == body["customer"]
    assert Grant.objects.filter(idempotency_key=body["idempotency_key"]).count() == 1


def test_a_rerun_keeps_the_data_and_schedules_a_fresh_opening_campaign():
    # given
    first_printed = prepare_demo()
    customers = Customer.objects.count()
    grants = Grant.objects.count()
    first_opening = Campaign.objects.get(status="scheduled")

    # when
    printed = prepare_demo()

    # then
    assert "Marketing already set up: kept as it is." in printed
    assert (Customer.objects.count(), Grant.objects.count()) == (customers, grants)
    first_opening.refresh_from_db()
    assert first_opening.status == "finished"
    fresh = Campaign.objects.get(status="scheduled")
    assert fresh.code != first_opening.code
    # Each start prints a new idempotency key, for a customer who can still claim.
    assert (
        printed_claim(printed)[2]["idempotency_key"]
        != (printed_claim(first_printed)[2]["idempotency_key"])
    )
    assert not Coupon.objects.filter(
        Q(customer__customer_id=printed_claim(printed)[2]["customer"]),
        campaign__code="weekend-treats",
    ).exists()
