"""The campaign wizard in a real browser: a marketer fills it in, sees the audience size,
adds a second coupon, saves the draft, schedules it and sees the new status; and picks a
coupon template's restrictions from the codes the orders carry."""

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
from tests.factories import CustomerFactory, OrderFactory, OrderItemFactory

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
    # the city typed into the pick list's search box was kept when saving
    assert campaign.cities == ["Shanghai"]
    assert page.problems == []


@pytest.fixture
def orders(shop):
    """Orders carrying category codes, as a shop's pipeline sends them."""
    customer = CustomerFactory(customer_id="SH-9", city="Shanghai")
    for n, category in enumerate(["dried_fruit", "dried_fruit", "nuts"]):
        order = OrderFactory(order_id=f"O-{n}", customer=customer, store="SH-01")
        OrderItemFactory(order=order, sku=f"DF-0{n}", category=category)
    return shop


def test_marketer_picks_restriction_codes_from_the_data(live_server, orders, page):
    # given a logged-in marketer on a new coupon template
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "mia")
    page.fill("input[name=password]", "browser-pw-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/coupon-templates/create/")
    page.fill("#id_name", "10 off dried fruit")
    page.fill("#id_code", "dried-fruit-10")
    page.fill("#id_face_value", "10")
    page.fill("#id_valid_days", "7")

    # when the marketer searches the categories: the codes the orders carry are offered
    page.click("#id_categories")
    page.keyboard.type("dri")
    expect(page.locator("#id_categories-values option")).to_have_count(1)
    expect(page.locator("#id_categories-values option")).to_have_attribute("value", "dried_fruit")
    page.fill("#id_categories", "dried_fruit")
    page.keyboard.press("Enter")
    # ... and adds a SKU no order holds yet: its chip says so
    page.click("#id_skus")
    page.keyboard.type("GIFT-BOX-27")
    page.keyboard.press("Enter")

    # then the chosen codes show as chips, the new SKU marked
    expect(page.locator("#id_categories-value")).to_have_value("dried_fruit")
    expect(page.locator(".pick-list-chip[data-value=dried_fruit]")).not_to_have_class(
        "pick-list-chip pick-list-new"
    )
    expect(page.locator(".pick-list-chip[data-value=GIFT-BOX-27]")).to_have_class(
        "pick-list-chip pick-list-new"
    )
    page.screenshot(path=SCREENSHOTS / "opscrm-coupon-template-pick-lists.png", full_page=True)

    # when it is saved
    page.click("text=Create template")

    # then it is saved with a warning about the SKU only
    expect(page.locator(".messages")).to_contain_text("Coupon template dried-fruit-10 is created.")
    expect(page.locator(".messages .message-warning")).to_have_text(
        "No order holds the SKU 'GIFT-BOX-27' yet, so the coupon fits no order until one does."
    )
    template = CouponTemplate.objects.get(code="dried-fruit-10")
    assert (template.categories, template.skus) == (["dried_fruit"], ["GIFT-BOX-27"])

    # and the template page keeps showing it, with the chosen codes as chips
    page.goto(f"{live_server.url}/coupon-templates/dried-fruit-10/update/")
    expect(page.locator("#restriction-warnings")).to_contain_text("GIFT-BOX-27")
    expect(page.locator(".pick-list-chip[data-value=dried_fruit]")).to_have_count(1)
    assert page.problems == []
