"""The Campaigns II scenario end to end through the marketer's pages (the twin of
tests/campaigns/test_scenario_api.py): in headless Chromium a marketer builds the segment
"gold members who prefer dried fruit, buy at weekends and agreed to app push or WeChat",
creates a free dried-cherry gift box and a "spend 28, get 4 off" coupon template, and a
campaign pushing both on Friday at 12:00 through app_push and wechat_oa with a 10% holdout;
the beat starts it at Friday 12:00, the shop redeems the member's 4 off (27.00 refused,
30.00 accepted), and the marketer reads the outcome on the campaign and customer pages.

The shop's data is written by its pipeline (ORM and the metrics task) and the redemption
goes through the API the shop uses; every expected number is computed here from the
fixture and SPEC §4's hash, never read from the product's tables."""

import os
import tempfile
from collections import Counter
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from playwright.sync_api import expect

from campaigns import tasks
from campaigns.models import Campaign
from crm.models import Channel, Customer, Order, OrderItem
from crm.tasks import recompute_customer_metrics_task
from tests.campaigns.pushing import held_out
from tests.campaigns.test_scenario_api import (
    FRIDAY_NOON,
    PEOPLE,
    SHANGHAI,
    THURSDAY,
    WEEKDAY,
    WEEKEND_DAYS,
)

SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", tempfile.gettempdir()))

pytestmark = [
    pytest.mark.browser,
    # live_server runs in another thread, so the test data must be committed.
    pytest.mark.django_db(transaction=True),
]

SEGMENT_NAME = "Gold dried-fruit weekend buyers"
CAMPAIGN = "gold-dried-fruit-friday"
GIFT = "cherry-gift-box"
FOUR_OFF = "dried-fruit-4-off-28"
# The gift box's SKU: one order of the shop holds it, so the pick list offers it.
CHERRY_BOX = ("cherry-box", "dried fruit", 1, Decimal("39.00"))


def orders_of(customer_id: str) -> list[tuple[str, datetime, list[tuple]]]:
    """The customer's paid orders: (order_id, placed_at, [(sku, category, qty, price)])."""
    _, category, when, _ = PEOPLE[customer_id]
    moments = WEEKEND_DAYS if when == "weekend" else [WEEKDAY] * 3
    orders = []
    for n, placed_at in enumerate(moments):
        items = [(f"{category}-1", category, 2, Decimal("30.00"))]
        if customer_id == "SILVER-01" and n == 0:
            items.append(CHERRY_BOX)
        orders.append((f"{customer_id}-{n}", datetime.fromisoformat(placed_at), items))
    return orders


def preferred_category(customer_id: str) -> str:
    """SPEC §1: the category with the largest share of spend."""
    spend = Counter()
    for _, _, items in orders_of(customer_id):
        for _, category, quantity, price in items:
            spend[category] += quantity * price
    return spend.most_common(1)[0][0]


def weekend_buyer(customer_id: str) -> bool:
    """More than half of the paid orders on a Saturday or Sunday in Shanghai."""
    days = [placed.astimezone(SHANGHAI).isoweekday() for _, placed, _ in orders_of(customer_id)]
    return sum(day >= 6 for day in days) * 2 > len(days)


def fits_the_segment(customer_id: str) -> bool:
    tier, _, _, consent = PEOPLE[customer_id]
    return (
        tier == "gold"
        and preferred_category(customer_id) == "dried fruit"
        and weekend_buyer(customer_id)
        and bool({"app_push", "wechat_oa"} & set(consent))
    )


@pytest.fixture
def shop(settings):
    """The shop's customers, orders and channels as its pipeline writes them, and Mia, a
    marketer."""
    settings.TIME_ZONE = "Asia/Shanghai"
    # The values of a field are cached a while; an earlier test's codes must not answer.
    cache.clear()
    marketer = User.objects.create_user(username="mia", password="browser-pw-1", first_name="Mia")
    # An earlier transactional test may have flushed the groups the data migration made;
    # page access needs only the group's name (crm.core.permissions.has_role).
    marketer.groups.add(Group.objects.get_or_create(name="marketer")[0])
    for code, kind in [("app_push", "off_site"), ("wechat_oa", "off_site"), ("sms", "off_site")]:
        Channel.objects.create(code=code, name=code, kind=kind)
    with time_machine.travel(THURSDAY, tick=True):
        for customer_id, (tier, _, _, consent) in PEOPLE.items():
            customer = Customer.objects.create(
                customer_id=customer_id,
                name=customer_id,
                city="Shanghai",
                is_member=True,
                member_tier=tier,
                consent=dict.fromkeys(consent, True),
            )
            for order_id, placed_at, items in orders_of(customer_id):
                order = Order.objects.create(
                    order_id=order_id,
                    customer=customer,
                    placed_at=placed_at,
                    amount=sum(quantity * price for _, _, quantity, price in items),
                )
                OrderItem.objects.bulk_create(
                    OrderItem(
                        order=order, sku=sku, category=category, quantity=quantity, unit_price=price
                    )
                    for sku, category, quantity, price in items
                )
        # what the pipeline's import (and the nightly beat) runs after writing
        recompute_customer_metrics_task.delay()
    return marketer


def log_in(page, live_server):
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "mia")
    page.fill("input[name=password]", "browser-pw-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


def set_condition(condition, field, op, value=None):
    condition.locator("select.rule-field").select_option(field)
    condition.locator("select.rule-op").select_option(op)
    if value is not None:
        condition.locator("input.rule-value").fill(value)


def build_segment(page, live_server, *, fits: set[str]):
    page.click(".site-nav >> text=Segments")
    page.click("text=New segment")
    expect(page.locator("h1")).to_have_text("New segment")
    page.fill("#id_name", SEGMENT_NAME)
    root = page.locator("#rule-builder > .rule-group")
    conditions = root.locator(":scope > .group-children > li > .rule-condition")
    set_condition(conditions.nth(0), "member_tier", "eq", "gold")
    root.locator(":scope > .group-actions .add-condition").click()
    set_condition(conditions.nth(1), "preferred_category", "eq", "dried fruit")
    root.locator(":scope > .group-actions .add-condition").click()
    set_condition(conditions.nth(2), "weekend_buyer", "eq")
    expect(conditions.nth(2).locator("select.rule-value")).to_have_value("true")
    root.locator(":scope > .group-actions .add-group").click()
    group = root.locator(":scope > .group-children > li > .rule-group")
    expect(group.locator("select.group-match")).to_have_value("any")
    in_group = group.locator(":scope > .group-children > li > .rule-condition")
    set_condition(in_group.nth(0), "consent", "has", "app_push")
    group.locator(":scope > .group-actions .add-condition").click()
    set_condition(in_group.nth(1), "consent", "has", "wechat_oa")
    expect(page.locator("#preview-count")).to_have_text(str(len(fits)))
    share = len(fits) * 100 / len(PEOPLE)
    expect(page.locator("#preview-share")).to_have_text(f"{share:.1f}% of {len(PEOPLE)} customers")
    page.click("#save-segment")
    expect(page.locator("h1")).to_contain_text(SEGMENT_NAME)
    expect(page.locator("#segment-summary .stat-value").first).to_have_text(str(len(fits)))


def pick(page, field_id: str, value: str):
    """Choose `value` in a pick list: typed into its search box, offered from the data."""
    page.click(f"#{field_id}")
    page.keyboard.type(value)
    expect(page.locator(f"#{field_id}-values option[value='{value}']")).to_have_count(1)
    page.fill(f"#{field_id}", value)
    page.keyboard.press("Enter")
    expect(page.locator(f"#{field_id}-value")).to_have_value(value)


def create_template(page, live_server, *, code, name, kind, face_value, threshold, restriction):
    page.goto(f"{live_server.url}/coupon-templates/create/")
    expect(page.locator("h1")).to_have_text("New coupon template")
    page.fill("#id_name", name)
    page.fill("#id_code", code)
    page.select_option("#id_kind", kind)
    page.fill("#id_face_value", face_value)
    page.fill("#id_threshold", threshold)
    page.check("input[name=validity][value=relative]")
    page.fill("#id_valid_days", "7")
    pick(page, *restriction)
    page.click("text=Create template")
    expect(page.locator(".messages")).to_contain_text(f"Coupon template {code} is created.")
    # the restriction names a code the orders carry: no warning
    expect(page.locator(".messages .message-warning")).to_have_count(0)


def create_and_schedule_campaign(page, live_server, *, fits: set[str]):
    page.click(".site-nav >> text=Campaigns")
    page.click("text=New campaign")
    expect(page.locator("h1")).to_have_text("New campaign")
    page.fill("#id_name", "Gold dried fruit Friday")
    page.fill("#id_code", CAMPAIGN)
    page.fill("#id_business_line", "snacks")
    page.select_option("#id_campaign_type", "targeted")
    page.select_option("#id_segment", label=SEGMENT_NAME)
    percent = round(len(fits) * 100 / len(PEOPLE), 1)
    expect(page.locator("#audience-size")).to_have_text(
        f"{len(fits)} customers in “{SEGMENT_NAME}” now: {percent}% of {len(PEOPLE)}."
    )
    page.fill("#id_holdout_percent", "10")
    page.select_option("#id_resources-0-template", GIFT)
    page.click("text=Add another coupon")
    page.select_option("#id_resources-1-template", FOUR_OFF)
    page.fill("#id_claim_starts_at", "2026-12-04T12:00")
    page.fill("#id_claim_ends_at", "2026-12-18T12:00")
    page.fill("#id_daily_limit_per_customer", "1")
    page.fill("#id_limit_per_customer", "1")
    page.fill("#id_stock", "100")
    page.fill("#id_budget", "2000")
    page.select_option("#id_trigger", label="Scheduled push")
    page.check("input[name=channels][value=app_push]")
    page.check("input[name=channels][value=wechat_oa]")
    page.click("text=Save draft")
    expect(page.locator("#campaign-status")).to_have_text("Draft")
    expect(page.locator(".facts")).to_contain_text(
        "Claims open2026-12-04 12:00 \N{EN DASH} 2026-12-18 12:00"
    )
    page.click("button[value=schedule]")
    expect(page.locator(".messages")).to_contain_text(f"Campaign {CAMPAIGN} is scheduled.")
    expect(page.locator("#campaign-status")).to_have_text("Scheduled")
    # nothing is pushed before the claim window opens
    expect(page.locator("#push-progress")).to_contain_text(
        "The push starts with the campaign, at its claim window's start."
    )


def test_marketer_sets_up_the_friday_push_in_the_pages_and_reads_its_outcome(
    live_server, shop, integration_api, page
):
    fits = {customer_id for customer_id in PEOPLE if fits_the_segment(customer_id)}
    assert len(fits) == 14
    with time_machine.travel(THURSDAY, tick=True):
        # given a logged-in marketer on Thursday
        log_in(page, live_server)

        # when she builds the segment, seeing the live count
        build_segment(page, live_server, fits=fits)

        # and creates the two coupon templates, picking their restrictions from the data
        create_template(
            page,
            live_server,
            code=GIFT,
            name="Free dried-cherry gift box",
            kind="gift",
            face_value="39",
            threshold="0",
            restriction=("id_skus", "cherry-box"),
        )
        create_template(
            page,
            live_server,
            code=FOUR_OFF,
            name="Spend 28, get 4 off",
            kind="cash",
            face_value="4",
            threshold="28",
            restriction=("id_categories", "dried fruit"),
        )

        # and sets the campaign up in the wizard and schedules it
        create_and_schedule_campaign(page, live_server, fits=fits)

    # when Friday 12:00 comes: the beat starts the campaign, the worker pushes it
    with time_machine.travel(FRIDAY_NOON, tick=False):
        tasks.advance_campaigns_task.delay()

    with time_machine.travel(FRIDAY_NOON.replace(hour=13), tick=True):
        # the treated and the held out, by SPEC §4's hash of the internal keys
        pk = dict(Customer.objects.values_list("customer_id", "pk"))
        campaign_pk = Campaign.objects.get(code=CAMPAIGN).pk
        treated = {cid for cid in fits if not held_out(campaign_pk, pk[cid], Decimal("0.1"))}
        holdout = fits - treated
        reached = {
            channel: {cid for cid in treated if channel in PEOPLE[cid][3]}
            for channel in ("app_push", "wechat_oa")
        }
        both = {"app_push", "wechat_oa"}
        member = sorted(cid for cid in treated if both <= set(PEOPLE[cid][3]))[0]

        # and the shop redeems the member's 4 off on a 27.00 order, then on a 30.00 one
        coupons = integration_api.get(f"/api/v1/customers/{member}/coupons/").json()["results"]
        four_off = next(c["code"] for c in coupons if c["template"] == FOUR_OFF)

        def redeem(order_id, amount):
            return integration_api.post(
                "/api/v1/redemptions/",
                {"code": four_off, "customer": member, "order_id": order_id, "amount": amount,
                 "items": [{"sku": "apricot-250g", "category": "dried fruit", "quantity": 1,
                            "unit_price": amount}],
                 "store": "", "city": "Shanghai"},
                format="json",
            )  # fmt: skip

        refused = redeem("FRI-27", "27.00")
        accepted = redeem("FRI-30", "30.00")
        assert refused.status_code == 409
        assert refused.json()["reason"] == "threshold_not_met"
        assert accepted.status_code == 201, accepted.json()
        assert accepted.json()["discount"] == "4.00"

        # then the campaign page shows it running, the push done over the whole audience
        page.goto(f"{live_server.url}/campaigns/{CAMPAIGN}/")
        expect(page.locator("#campaign-status")).to_have_text("Running")
        push = page.locator("#push-progress [data-testid=push-run]")
        expect(push).to_have_count(1)
        expect(push.locator(".badge")).to_have_text("Done")
        expect(push).to_contain_text(
            f"{len(fits)} of {len(fits)} audience members processed (100%) · {len(treated)} granted"
        )
        expect(push).to_contain_text("started 2026-12-04 12:00:00")
        if holdout:
            expect(push).to_contain_text(f"Not granted: holdout {len(holdout)}")
        else:
            expect(push).not_to_contain_text("Not granted")
        expect(page.locator("[data-testid=audience-record]")).to_contain_text(
            f"{len(fits)} members: {len(treated)} treated, {len(holdout)} in the holdout"
        )

        # and the messages per channel: sent with consent, suppressed without
        for channel, sent_to in reached.items():
            expect(page.locator(f"#messages tr[data-channel={channel}] td")).to_have_text(
                [channel, str(len(sent_to)), "0", str(len(treated - sent_to)), "0", "0"]
            )
        expect(page.locator("#messages table:not(#message-reasons) tbody tr")).to_have_count(2)
        no_consent = sum(len(treated - sent_to) for sent_to in reached.values())
        if no_consent:
            expect(page.locator("#message-reasons tbody tr td")).to_have_text(
                ["suppressed", "No consent for the channel", "no_consent", str(no_consent)]
            )
        else:
            expect(page.locator("#message-reasons")).to_have_count(0)

        # and the one redemption, with its order (the refused 27.00 one is no redemption)
        redemptions = page.locator("#redemptions")
        expect(redemptions.locator("p strong")).to_have_text("1")
        expect(redemptions.locator("p")).to_contain_text("4.00 discount given")
        expect(redemptions.locator("tbody tr")).to_have_count(1)
        expect(redemptions.locator("tbody tr td")).to_have_text(
            ["2026-12-04 13:00", member, four_off, "FRI-30", "30.00", "4.00"]
        )
        page.screenshot(path=SCREENSHOTS / "opscrm-push-campaign.png", full_page=True)

        # when the marketer opens the member's customer page
        page.click(f"#redemptions a:text-is('{member}')")

        # then its 360 page holds both coupons, through app_push, and the 4 off is redeemed
        expect(page).to_have_url(f"{live_server.url}/customers/{member}/")
        expect(page.locator("h1")).to_have_text(member)
        rows = page.locator("#coupons tbody tr")
        expect(rows).to_have_count(2)
        for template, status in [(GIFT, "Unused"), (FOUR_OFF, "Redeemed")]:
            row = rows.filter(has=page.locator(f"td:text-is('{template}')"))
            expect(row.locator("td").nth(1)).to_have_text(CAMPAIGN)
            expect(row.locator("td").nth(3)).to_have_text(status)
            expect(row.locator("td").nth(4)).to_have_text("app_push")
            expect(row.locator("td").nth(5)).to_have_text("2026-12-04 12:00")
            expect(row.locator("td").nth(6)).to_have_text("2026-12-11 12:00")
        expect(rows.filter(has_text=four_off).locator("td").nth(7)).to_have_text("2026-12-04 13:00")

        # and the two messages sent at 12:00, one per channel
        messages = page.locator("#messages tbody tr")
        expect(messages).to_have_count(2)
        for channel in ("app_push", "wechat_oa"):
            row = messages.filter(has=page.locator(f"td:text-is('{channel}')"))
            expect(row.locator("td").nth(1)).to_have_text(CAMPAIGN)
            expect(row.locator("td").nth(3)).to_have_text("Sent")
            expect(row.locator("td").nth(5)).to_have_text("2026-12-04 12:00")
    assert page.problems == []
