"""The site shell in a real browser: log in, open every page, no console or network errors."""

import os
import tempfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.models import Campaign, CampaignResource, CouponTemplate, HarassmentSettings
from campaigns.services.claims import claim_coupon
from campaigns.services.redemptions import OrderLine, redeem_coupon
from crm.models import Channel, Customer
from crm.services.metrics import recompute_customer_metrics
from segments.models import Segment
from segments.rules import canonical_rules
from tests.factories import CustomerFactory, OrderFactory, OrderItemFactory

# Screenshots of the home page and the customer list, for a person to look at the design.
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", tempfile.gettempdir()))

pytestmark = [
    pytest.mark.browser,
    # live_server runs in another thread, so the test data must be committed.
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def shop():
    # The pages show figures as of the real clock, so the orders are recent to it.
    now = timezone.now()
    marketer = User.objects.create_user(username="mia", password="browser-pw-1", first_name="Mia")
    # An earlier transactional test may have flushed the groups the data migration made;
    # page access needs only the group's name (crm.core.permissions.has_role).
    marketer.groups.add(Group.objects.get_or_create(name="marketer")[0])
    for n in range(60):
        customer = CustomerFactory(
            customer_id=f"B{n:03d}",
            name=f"Shopper {n}",
            phone=f"1380000{n:04d}",
            email=f"shopper{n}@example.com",
            city="Hangzhou" if n % 3 else "Shanghai",
            is_member=n % 2 == 0,
        )
        for k in range(n % 4):
            order = OrderFactory(
                customer=customer,
                placed_at=now - timedelta(days=10 * k + n % 7),
                amount=Decimal("120.00") + n,
            )
            OrderItemFactory(order=order, sku=f"SKU-{n}-{k}")
    recompute_customer_metrics(as_of=now)
    return marketer


@pytest.fixture
def issued_coupons(shop):
    """Two coupons of a running campaign granted by the claim engine, one redeemed."""
    now = timezone.now()
    HarassmentSettings.objects.get_or_create(pk=1)
    channel = Channel.objects.create(code="app_push", name="App push", kind="off_site")
    template = CouponTemplate.objects.create(
        code="ten-off",
        name="10 off 50",
        kind="cash",
        face_value=Decimal("10.00"),
        threshold=Decimal("50.00"),
        valid_days=7,
    )
    campaign = Campaign.objects.create(
        code="spring",
        name="Spring snacks",
        business_line="snacks",
        segment=Segment.objects.create(
            name="Shanghai",
            rules=canonical_rules({"field": "city", "op": "in", "value": ["Shanghai"]}),
        ),
        claim_starts_at=now - timedelta(days=1),
        claim_ends_at=now + timedelta(days=6),
        trigger="login",
        stock=100,
        budget=Decimal("1000.00"),
        status="running",
    )
    CampaignResource.objects.create(campaign=campaign, template=template, quantity=1)
    campaign.channels.set([channel])
    coupons = [
        claim_coupon(
            campaign="spring",
            customer=customer_id,
            channel="app_push",
            trigger="login",
            idempotency_key=f"browser-{customer_id}",
            now=now - timedelta(hours=2),
        ).coupons[0]
        for customer_id in ("B000", "B003")
    ]
    redeem_coupon(
        code=coupons[0].code,
        customer=Customer.objects.get(customer_id="B000"),
        order_id="WEB-1",
        amount=Decimal("88.00"),
        items=[OrderLine(sku="N1", category="nuts", quantity=1, unit_price=Decimal("88.00"))],
        store="S1",
        city="Shanghai",
        now=now - timedelta(hours=1),
    )
    return coupons


def test_marketer_logs_in_and_opens_every_page_of_the_shell(
    live_server, shop, issued_coupons, page
):
    # given the login page
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(f"{live_server.url}/login/?next=/")
    expect(page.locator("h1")).to_have_text("Log in to OpsCRM")

    # when the marketer logs in through the form
    page.fill("input[name=username]", "mia")
    page.fill("input[name=password]", "browser-pw-1")
    page.click("button[type=submit]")

    # then the home dashboard with its chart
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator("h1")).to_have_text("Customer base")
    expect(page.locator("#stage-chart .plotly-graph-div .main-svg").first).to_be_visible()
    expect(page.locator(".site-nav .user-name")).to_have_text("Mia")
    page.screenshot(path=SCREENSHOTS / "opscrm-home.png", full_page=True)

    # the customer list, filtered through the form
    page.click(".site-nav >> text=Customers")
    expect(page.locator("h1")).to_have_text("Customers")
    expect(page.locator(".result-count")).to_contain_text("60 customers")
    expect(page.locator(".customers-table tbody tr")).to_have_count(50)
    expect(page.locator(".customers-table")).to_contain_text("138****0001")
    page.screenshot(path=SCREENSHOTS / "opscrm-customers.png", full_page=True)
    page.fill("input[name=city]", "Shanghai")
    page.click("text=Apply filters")
    expect(page).to_have_url(f"{live_server.url}/customers/?city=Shanghai")
    expect(page.locator(".result-count")).to_contain_text("20 customers match the filters")

    # a customer 360 page
    page.click("text=B003")
    expect(page.locator("h1")).to_have_text("Shopper 3")
    expect(page.locator("text=SKU-3-2")).to_be_visible()

    # the imports list
    page.click(".site-nav >> text=Imports")
    expect(page.locator("h1")).to_contain_text("Import")

    # the issued coupons, filtered through the form, and the redemptions with their totals
    page.click('.site-nav >> text="Coupons"')
    expect(page.locator("h1")).to_have_text("Coupons")
    expect(page.locator(".result-count")).to_contain_text("2 coupons issued")
    page.screenshot(path=SCREENSHOTS / "opscrm-coupons.png", full_page=True)
    page.select_option("select[name=status]", "redeemed")
    page.click("text=Apply filters")
    expect(page.locator(".result-count")).to_contain_text("1 coupon matches the filters")
    expect(page.locator(".coupons-table tbody tr")).to_have_count(1)
    expect(page.locator(".coupons-table")).to_contain_text(issued_coupons[0].code)
    page.click('.site-nav >> text="Redemptions"')
    expect(page.locator("h1")).to_have_text("Redemptions")
    expect(page.locator(".redemptions-table tbody tr")).to_have_count(1)
    expect(page.locator(".redemption-totals")).to_contain_text("88.00")
    page.screenshot(path=SCREENSHOTS / "opscrm-redemptions.png", full_page=True)

    # the API docs, served without a CDN
    page.click(".site-nav >> text=API docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("OpsCRM API", timeout=15000)

    # and nothing went wrong on the way
    assert page.problems == []


def test_logout_returns_to_the_login_page(live_server, shop, page):
    # given a logged-in marketer
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "mia")
    page.fill("input[name=password]", "browser-pw-1")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Customer base")

    # when
    page.click("text=Log out")

    # then
    expect(page).to_have_url(f"{live_server.url}/login/")
    page.goto(f"{live_server.url}/customers/")
    expect(page).to_have_url(f"{live_server.url}/login/?next=/customers/")
    assert page.problems == []


def test_admin_pages_load_every_resource_they_ask_for(live_server, page):
    # given a superuser
    User.objects.create_superuser(username="root", password="browser-pw-2")

    # when they log in to the admin and open an index and a list
    page.goto(f"{live_server.url}/admin/")
    page.fill("input[name=username]", "root")
    page.fill("input[name=password]", "browser-pw-2")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()
    page.goto(f"{live_server.url}/admin/crm/customer/")
    expect(page.locator("#changelist")).to_be_visible()
    # (a favicon is fetched after the page loaded; give it the time to be asked for)
    page.wait_for_timeout(500)

    # then nothing, the favicon included, answered an error
    assert page.problems == []


def test_a_missing_page_is_the_sites_own_with_its_styles_and_a_way_on(live_server, shop, page):
    # given a logged-in marketer
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "mia")
    page.fill("input[name=password]", "browser-pw-1")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Customer base")

    # when they follow a dead link
    page.goto(f"{live_server.url}/customers/NOBODY/")

    # then the site's page, styled, with the navigation and a way home
    expect(page.locator("h1")).to_have_text("Page not found")
    expect(page.locator(".site-nav .user-name")).to_have_text("Mia")
    page.screenshot(path=SCREENSHOTS / "opscrm-404.png", full_page=True)
    page.click("text=Go to the home page")
    expect(page.locator("h1")).to_have_text("Customer base")
    # and the only error on the way was the page's own 404 (which Chromium also logs)
    assert page.problems == [
        f"HTTP 404: {live_server.url}/customers/NOBODY/",
        "console: Failed to load resource: the server responded with a status of 404 (Not Found)",
    ]
