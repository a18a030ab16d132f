"""The campaign wizard in a real browser: a marketer fills it in, sees the audience size,
adds a second coupon, saves the draft, schedules it and sees the new status."""

import os
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from playwright.sync_api import expect

from campaigns.models import Campaign, CouponTemplate
from crm.models import Channel
from segments.models import Segment
from segments.rules import canonical_rules
from tests.factories import CustomerFactory

SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", tempfile.gettempdir()))

pytestmark = [
    pytest.mark.browser,
    # live_server runs in another thread, so the test data must be committed.
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def shop():
    marketer = User.objects.create_user(username="mia", password="browser-pw-1", first_name="Mia")
    # An earlier transactional test may have flushed the groups the data migration made;
    # page access needs only the group's name (crm.core.permissions.has_role).
    marketer.groups.add(Group.objects.get_or_create(name="marketer")[0])
    for n in range(5):
        CustomerFactory(customer_id=f"SH-{n}", city="Shanghai")
    for n in range(3):
        CustomerFactory(customer_id=f"BJ-{n}", city="Beijing")
    Segment.objects.create(
        name="Shanghai shoppers",
        rules=canonical_rules({"field": "city", "op": "in", "value": ["Shanghai"]}),
    )
    Channel.objects.create(code="app_push", name="App push", kind="off_site")
    Channel.objects.create(code="homepage", name="Homepage", kind="on_site")
    CouponTemplate.objects.create(
        code="ten-off-fifty",
        name="10 off 50",
        kind="cash",
        face_value=Decimal("10"),
        threshold=Decimal("50"),
        valid_days=7,
    )
    CouponTemplate.objects.create(
        code="free-nuts", name="Free nuts", kind="gift", face_value=Decimal("5"), valid_days=7
    )
    return marketer


def test_marketer_configures_and_schedules_a_campaign(live_server, shop, page):
    # given a logged-in marketer on the campaign list
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "mia")
    page.fill("input[name=password]", "browser-pw-1")
    page.click("button[type=submit]")
    page.click(".site-nav >> text=Campaigns")
    expect(page.locator("h1")).to_have_text("Campaigns")

    # when the wizard is filled in
    page.click("text=New campaign")
    expect(page.locator("h1")).to_have_text("New campaign")
    page.fill("#id_name", "Summer snacks")
    page.fill("#id_code", "summer-snacks")
    page.fill("#id_business_line", "snacks")
    page.select_option("#id_segment", label="Shanghai shoppers")
    # the audience size arrives from the server for the chosen segment
    expect(page.locator("#audience-size")).to_contain_text(
        "5 customers in “Shanghai shoppers” now: 62.5% of 8."
    )
    page.fill("#id_cities", "Shanghai")
    page.fill("#id_holdout_percent", "10")
    page.select_option("#id_resources-0-template", "ten-off-fifty")
    page.click("text=Add another coupon")
    page.select_option("#id_resources-1-template", "free-nuts")
    page.fill("#id_resources-1-quantity", "2")
    page.fill("#id_claim_starts_at", "2030-01-01T00:00")
    page.fill("#id_claim_ends_at", "2030-01-08T00:00")
    page.fill("#id_limit_per_customer", "2")
    page.fill("#id_stock", "300")
    page.fill("#id_budget", "6000")
    page.select_option("#id_trigger", "login")
    page.check("input[name=channels][value=app_push]")
    page.screenshot(path=SCREENSHOTS / "opscrm-campaign-wizard.png", full_page=True)
    page.click("text=Save draft")

    # then the campaign page shows the draft
    expect(page.locator("h1")).to_contain_text("Summer snacks")
    expect(page.locator("#campaign-status")).to_have_text("Draft")
    expect(page.locator(".messages")).to_contain_text("Campaign summer-snacks is saved as a draft.")
    expect(page.locator(".facts")).to_contain_text("1 \N{MULTIPLICATION SIGN} ten-off-fifty")
    expect(page.locator(".facts")).to_contain_text("2 \N{MULTIPLICATION SIGN} free-nuts")

    # when it is scheduled
    page.click("button[value=schedule]")

    # then its status is shown
    expect(page.locator("#campaign-status")).to_have_text("Scheduled")
    expect(page.locator(".messages")).to_contain_text("Campaign summer-snacks is scheduled.")
    expect(page.locator("button[value=schedule]")).to_have_count(0)
    page.screenshot(path=SCREENSHOTS / "opscrm-campaign-detail.png", full_page=True)
    campaign = Campaign.objects.get()
    assert (campaign.status, campaign.holdout_share, campaign.limit_per_customer) == (
        "scheduled",
        Decimal("0.100"),
        2,
    )
    assert page.problems == []
