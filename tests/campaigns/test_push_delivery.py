"""Scheduled push (SPEC §4, §5 deliveries), run in the test process: what a push grants,
which messages it sends, suppresses and defers, and the deliveries endpoint. The expected
values come from SPEC's rules applied to the fixture in plain Python here (the holdout by
its published hash, consent from the fixture's dicts, quiet hours by the clock)."""

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from campaigns.models import Coupon, DeliveryBatch, DeliveryRun, Grant, Message
from campaigns.services.push_delivery import deliver_batch, sweep_pushes
from tests.campaigns.pushing import held_out, start
from tests.factories import CustomerFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_a_push_grants_every_treated_member_once_and_messages_each_consented_channel(
    push_campaign, marketer, marketer_api, django_capture_on_commit_callbacks, settings, as_of
):
    # given 30 Shanghai customers with varied consent, one outside the segment, 3 per batch
    settings.PUSH_BATCH_SIZE = 7
    consents = [{}, {"app_push": True}, {"wechat_oa": True, "app_push": False}]
    consents.append({"app_push": True, "wechat_oa": True})
    members = [CustomerFactory(customer_id=f"P{n:03d}", consent=consents[n % 4]) for n in range(30)]
    CustomerFactory(customer_id="BJ", city="Beijing", consent={"app_push": True})
    campaign = push_campaign(holdout_share=Decimal("0.3"))

    # when the marketer starts it now
    start(campaign, marketer, as_of, django_capture_on_commit_callbacks)

    # then every treated member holds one grant, none of the holdout or outsiders
    treated = {c.pk for c in members if not held_out(campaign.pk, c.pk, Decimal("0.3"))}
    assert 0 < len(treated) < 30
    grants = Grant.objects.filter(campaign=campaign)
    assert sorted(grants.values_list("customer_id", flat=True)) == sorted(treated)
    assert Coupon.objects.filter(campaign=campaign).count() == len(treated)
    # and one message per treated member and off-site channel, sent where consented
    expected = {}
    for customer in members:
        if customer.pk in treated:
            for code in ("app_push", "wechat_oa"):
                consented = customer.consent.get(code) is True
                expected[(customer.pk, code)] = (
                    ("sent", "") if consented else ("suppressed", "no_consent")
                )
    messages = {
        (m.customer_id, m.channel.code): (m.status, m.reason)
        for m in Message.objects.filter(campaign=campaign).select_related("channel")
    }
    assert messages == expected
    # and each grant belongs to the first channel (campaign order) that reached the customer
    for grant in grants.select_related("channel"):
        sent = [
            code
            for code in ("app_push", "wechat_oa")
            if expected[(grant.customer_id, code)][0] == "sent"
        ]
        assert grant.channel.code == (sent[0] if sent else "app_push")
        ledger_channels = set(grant.coupons.values_list("events__channel_code", flat=True))
        assert ledger_channels == {grant.channel.code}
    # and the deliveries endpoint reports the run in SPEC §5's shape
    answer = marketer_api.get(f"/api/v1/campaigns/{campaign.code}/deliveries/")
    assert answer.status_code == 200, answer.content
    (run,) = answer.json()["results"]
    per_channel = {
        code: {
            status: sum(1 for (_, c), (s, _) in expected.items() if c == code and s == status)
            for status in ("sent", "failed", "suppressed", "deferred")
        }
        for code in ("app_push", "wechat_oa")
    }
    assert run == {
        "id": DeliveryRun.objects.get(campaign=campaign).pk,
        "state": "done",
        "total": 30,
        "processed": 30,
        "granted": len(treated),
        "skipped": {"holdout": 30 - len(treated)},
        "messages": per_channel,
        "suppressed_by_reason": {
            "no_consent": sum(1 for s, r in expected.values() if r == "no_consent")
        },
        "deferred_by_reason": {},
        "started_at": "2026-06-30T20:00:00+08:00",
        "finished_at": "2026-06-30T20:00:00+08:00",
    }


def test_a_second_push_of_the_same_batch_grants_and_messages_no_one_again(
    push_campaign, marketer, django_capture_on_commit_callbacks, as_of
):
    # given a pushed campaign
    for n in range(5):
        CustomerFactory(customer_id=f"R{n}", consent={"app_push": True})
    campaign = push_campaign()
    start(campaign, marketer, as_of, django_capture_on_commit_callbacks)
    run = DeliveryRun.objects.get(campaign=campaign)
    batch = run.batches.get()

    # when its batch is delivered again, as after a crash that lost the ledger's answer
    DeliveryBatch.objects.filter(pk=batch.pk).update(state="pending")
    DeliveryRun.objects.filter(pk=run.pk).update(state="running")
    outcome = deliver_batch(batch_id=batch.pk, now=as_of + timedelta(minutes=1))

    # then the engine replays each grant: still one grant and one message each
    assert outcome == "done"
    assert Grant.objects.filter(campaign=campaign).count() == 5
    assert Coupon.objects.filter(campaign=campaign).count() == 5
    assert Message.objects.filter(campaign=campaign).count() == 10
    batch.refresh_from_db()
    assert (batch.processed, batch.granted, batch.skipped) == (5, 5, {})


@pytest.mark.parametrize(
    ("local_moment", "deferred_until"),
    [
        (datetime(2026, 7, 1, 21, 59, 59, tzinfo=SHANGHAI), None),
        (
            datetime(2026, 7, 1, 22, 0, 0, tzinfo=SHANGHAI),
            datetime(2026, 7, 2, 8, 0, tzinfo=SHANGHAI),
        ),
        (
            datetime(2026, 7, 2, 0, 30, 0, tzinfo=SHANGHAI),
            datetime(2026, 7, 2, 8, 0, tzinfo=SHANGHAI),
        ),
        (
            datetime(2026, 7, 2, 7, 59, 59, tzinfo=SHANGHAI),
            datetime(2026, 7, 2, 8, 0, tzinfo=SHANGHAI),
        ),
        (datetime(2026, 7, 2, 8, 0, 0, tzinfo=SHANGHAI), None),
    ],
)
def test_quiet_hours_defer_a_message_to_their_end_and_never_drop_it(
    push_campaign,
    app_push,
    marketer,
    django_capture_on_commit_callbacks,
    local_moment,
    deferred_until,
):
    # given SMS-like quiet hours 22:00-08:00 (operator's zone) on app_push
    app_push.quiet_hours_start, app_push.quiet_hours_end = time(22), time(8)
    app_push.save()
    customer = CustomerFactory(customer_id="Q1", consent={"app_push": True, "wechat_oa": True})
    now = local_moment
    campaign = push_campaign(
        claim_starts_at=now + timedelta(hours=1), claim_ends_at=now + timedelta(days=3)
    )

    # when the push runs at that local moment
    start(campaign, marketer, now, django_capture_on_commit_callbacks)

    # then the grant stands, the app push waits for 08:00 (or goes now), WeChat goes now
    assert Grant.objects.filter(campaign=campaign, customer=customer).count() == 1
    push = Message.objects.get(campaign=campaign, channel=app_push)
    wechat = Message.objects.get(campaign=campaign, channel__code="wechat_oa")
    assert (wechat.status, wechat.sent_at is not None) == ("sent", True)
    if deferred_until is None:
        assert (push.status, push.reason) == ("sent", "")
    else:
        assert (push.status, push.reason) == ("deferred", "quiet_hours")
        assert push.due_at == deferred_until
        # and the sweeper sends it once the quiet hours are over, not a second before
        sweep_pushes(now=push.due_at - timedelta(seconds=1))
        push.refresh_from_db()
        assert push.status == "deferred"
        sweep_pushes(now=push.due_at)
        push.refresh_from_db()
        assert (push.status, push.sent_at is not None) == ("sent", True)


def test_the_daily_cap_counts_the_operators_day_per_customer_and_channel(
    push_campaign,
    app_push,
    wechat,
    marketer,
    django_capture_on_commit_callbacks,
    shanghai,
    make_campaign,
):
    # given a cap of one app push a day, and a customer pushed at 09:00 local
    app_push.daily_message_cap = 1
    app_push.save()
    customer = CustomerFactory(customer_id="K1", consent={"app_push": True, "wechat_oa": True})
    morning = datetime(2026, 7, 1, 9, 0, tzinfo=SHANGHAI)
    first = push_campaign(
        business_line="a",
        claim_starts_at=morning + timedelta(hours=1),
        claim_ends_at=morning + timedelta(days=5),
    )
    start(first, marketer, morning, django_capture_on_commit_callbacks)

    # when a second campaign pushes at 23:59:59 the same day, and a third at 00:00 next day
    late = push_campaign(
        business_line="b",
        claim_starts_at=morning + timedelta(hours=20),
        claim_ends_at=morning + timedelta(days=5),
    )
    start(
        late,
        marketer,
        datetime(2026, 7, 1, 23, 59, 59, tzinfo=SHANGHAI),
        django_capture_on_commit_callbacks,
    )
    next_day = push_campaign(
        business_line="c",
        claim_starts_at=morning + timedelta(hours=20),
        claim_ends_at=morning + timedelta(days=5),
    )
    start(
        next_day,
        marketer,
        datetime(2026, 7, 2, 0, 0, tzinfo=SHANGHAI),
        django_capture_on_commit_callbacks,
    )

    # then the same day's second app push is suppressed (daily_cap), WeChat has no cap,
    # the next day's goes; every campaign granted
    def status(campaign, channel):
        m = Message.objects.get(campaign=campaign, customer=customer, channel=channel)
        return (m.status, m.reason)

    assert status(first, app_push) == ("sent", "")
    assert status(late, app_push) == ("suppressed", "daily_cap")
    assert status(late, wechat) == ("sent", "")
    assert status(next_day, app_push) == ("sent", "")
    assert Grant.objects.filter(customer=customer).count() == 3


def test_on_site_channels_get_no_messages_and_a_grant_with_none_sent_belongs_to_the_first(
    push_campaign, homepage, app_push, marketer, django_capture_on_commit_callbacks, as_of
):
    # given a campaign on the homepage then app push, and a customer without consent
    customer = CustomerFactory(customer_id="N1", consent={})
    campaign = push_campaign(channels=[homepage, app_push])

    # when it pushes
    start(campaign, marketer, as_of, django_capture_on_commit_callbacks)

    # then one suppressed app push, nothing for the homepage, and the grant on the homepage
    assert list(
        Message.objects.filter(campaign=campaign).values_list("channel__code", "status", "reason")
    ) == [("app_push", "suppressed", "no_consent")]
    assert Grant.objects.get(campaign=campaign, customer=customer).channel == homepage
