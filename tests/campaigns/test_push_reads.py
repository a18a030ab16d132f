"""Where a push is read: a customer's messages (API, customer 360, admin), the campaign
page's push, messages and redemptions panels, and the deliveries endpoint's doors."""

import re
from datetime import time, timedelta

import pytest
from django.urls import reverse

from campaigns.services.redemptions import OrderLine, redeem_coupon
from tests.campaigns.pushing import start
from tests.factories import CustomerFactory


@pytest.fixture
def pushed(push_campaign, app_push, marketer, django_capture_on_commit_callbacks, as_of):
    """A push at 23:00 local (quiet hours 22:00-08:00 on app_push): M1 consents to both
    channels, M2 to none; one of M1's coupons is redeemed."""
    app_push.quiet_hours_start, app_push.quiet_hours_end = time(22), time(8)
    app_push.save()
    first = CustomerFactory(customer_id="M1", consent={"app_push": True, "wechat_oa": True})
    second = CustomerFactory(customer_id="M2", consent={})
    campaign = push_campaign()
    now = as_of.replace(hour=15)  # 23:00 in Shanghai
    start(campaign, marketer, now, django_capture_on_commit_callbacks)
    coupon = first.coupons.get()
    redeem_coupon(
        code=coupon.code,
        customer=first,
        order_id="ORD-1",
        amount=coupon.threshold + 5,
        items=[OrderLine(sku="s", category="snacks", quantity=1, unit_price=coupon.threshold + 5)],
        store="",
        city="Shanghai",
        now=now + timedelta(minutes=5),
    )
    return campaign, first, second


def test_a_customers_messages_are_read_through_the_api_by_the_integration_role(
    pushed, integration_api
):
    # given / when
    campaign, _, _ = pushed
    answer = integration_api.get("/api/v1/customers/M1/messages/")

    # then WeChat went, the app push waits for 08:00 local
    assert answer.status_code == 200
    rows = answer.json()["results"]
    sent_at = rows[0].pop("sent_at")
    assert sent_at is not None
    assert rows == [
        {
            "campaign": campaign.code,
            "channel": "wechat_oa",
            "status": "sent",
            "reason": "",
            "created_at": "2026-06-30T23:00:00+08:00",
            "due_at": "2026-06-30T23:00:00+08:00",
        },
        {
            "campaign": campaign.code,
            "channel": "app_push",
            "status": "deferred",
            "reason": "quiet_hours",
            "created_at": "2026-06-30T23:00:00+08:00",
            "due_at": "2026-07-01T08:00:00+08:00",
            "sent_at": None,
        },
    ]
    filtered = integration_api.get("/api/v1/customers/M1/messages/?status=deferred").json()
    assert [row["channel"] for row in filtered["results"]] == ["app_push"]
    assert integration_api.get("/api/v1/customers/NOPE/messages/").status_code == 404


def test_the_campaign_page_shows_the_push_the_messages_per_channel_the_reasons_and_the_redemption(
    pushed, client, marketer
):
    # given / when
    campaign, *_ = pushed
    client.force_login(marketer)
    page = client.get(reverse("campaign-detail", args=[campaign.code])).content.decode()

    # then
    push = page[page.index('id="push-progress"') :]
    assert "<strong>2</strong> of 2 audience members processed (100%)" in push
    assert "<strong>2</strong> granted" in push
    rows = dict(
        re.findall(r'<tr data-channel="(\w+)">(.*?)</tr>', page[page.index('id="messages"') :])
    )
    cells = {code: re.findall(r'class="num">(\d+)<', row) for code, row in rows.items()}
    # sent, failed, suppressed, deferred, queued
    assert cells == {"app_push": ["0", "0", "1", "1", "0"], "wechat_oa": ["1", "0", "1", "0", "0"]}
    reasons = page[page.index('id="message-reasons"') :]
    assert re.findall(r"<td>(\w+)</td><td>[^<]+</td><td><code>(\w+)</code></td>", reasons)[:3] == [
        ("deferred", "quiet_hours"),
        ("suppressed", "no_consent"),
    ]
    redemptions = page[page.index('id="redemptions"') :]
    assert "<strong>1</strong> coupon redeemed" in redemptions
    assert "ORD-1" in redemptions


def test_the_push_panel_polls_only_while_a_push_runs(pushed, client, marketer):
    # given a finished push
    campaign, *_ = pushed
    client.force_login(marketer)

    # when the panel is fetched
    fragment = client.get(reverse("campaign-push-progress", args=[campaign.code]))

    # then it shows the push and stops polling
    assert fragment.status_code == 200
    assert "Done" in fragment.content.decode()
    assert "hx-trigger" not in fragment.content.decode()


def test_the_customer_360_and_the_admin_show_the_customers_messages(
    pushed, client, marketer, support
):
    # given / when a marketer opens the 360 page and support the admin
    client.force_login(marketer)
    response = client.get(reverse("customer-detail", args=["M2"]))
    assert response.status_code == 200
    profile = response.content.decode()
    client.force_login(support)
    admin = client.get(reverse("admin:campaigns_message_changelist") + "?q=M2")

    # then
    panel = profile[profile.index('<article class="panel" id="messages">') :]
    assert panel.count("No consent for the channel") == 2
    assert "2 messages" in panel
    assert admin.status_code == 200
    assert admin.context["cl"].result_count == 2


def test_the_deliveries_endpoint_is_refused_without_a_read_role_and_404s_an_unknown_code(
    pushed, integration_api, analyst_api
):
    campaign, *_ = pushed
    assert analyst_api.get(f"/api/v1/campaigns/{campaign.code}/deliveries/").status_code == 200
    assert integration_api.get(f"/api/v1/campaigns/{campaign.code}/deliveries/").status_code == 403
    assert analyst_api.get("/api/v1/campaigns/nope/deliveries/").status_code == 404
