"""The report pages in a real browser: the campaigns overview from the navigation, and the
live monitor picking up a claim made while it is open, without a reload."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.services.claims import claim_coupon
from segments.models import Segment
from tests.browser.test_shell_browser import issued_coupons, shop  # noqa: F401 - fixtures
from tests.conftest import customer_table_locked

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "mia")
    page.fill("input[name=password]", "browser-pw-1")
    page.click("button[type=submit]")
    expect(page.locator(".site-nav .user-name")).to_have_text("Mia")


@pytest.mark.usefixtures("shop", "issued_coupons")
def test_the_overview_shows_the_campaign_and_its_best_channel(live_server, page):
    log_in(page, live_server)

    page.click(".site-nav >> text=Reports")

    expect(page.locator("h1")).to_have_text("Campaigns overview")
    row = page.locator('#overview-campaigns tbody tr[data-campaign="spring"]')
    expect(row.locator('[data-measure="claimed"]')).to_have_text("2")
    expect(row.locator('[data-measure="redeemed"]')).to_have_text("1")
    expect(row.locator('[data-measure="gmv"]')).to_have_text("88.00")
    expect(page.locator("[data-best-channel]")).to_have_text("app_push")
    expect(page.locator("#channel-chart .plotly-graph-div .main-svg").first).to_be_visible()
    page.click("text=Live monitor")
    expect(page.locator("h1")).to_have_text("Live monitor")
    assert page.problems == []


@pytest.mark.usefixtures("shop", "issued_coupons")
def test_the_live_monitor_shows_a_new_claim_without_a_reload(live_server, page):
    log_in(page, live_server)
    page.goto(f"{live_server.url}/reports/live/")
    stock_left = page.locator('tr[data-campaign="spring"] [data-live="stock_left"]')
    expect(stock_left).to_contain_text("98 of 100")
    page.evaluate("window.notReloaded = true")

    claim_coupon(
        campaign="spring",
        customer="B006",
        channel="app_push",
        trigger="login",
        idempotency_key="while-watching",
        now=timezone.now(),
    )

    # the panel polls every 5 s: the claim shows within one period (and a margin)
    expect(stock_left).to_contain_text("97 of 100", timeout=8000)
    assert page.evaluate("window.notReloaded") is True
    assert page.problems == []


@pytest.mark.usefixtures("shop", "issued_coupons")
def test_the_customer_base_draws_its_seven_charts(live_server, page):
    log_in(page, live_server)
    page.goto(f"{live_server.url}/reports/campaigns/")

    page.click("text=Customer base")

    expect(page.locator("h1")).to_have_text("Customer base")
    for panel in ("stages", "flows", "rfm", "funnel", "segments"):
        chart = page.locator(f"#base-{panel} .plotly-graph-div .main-svg").first
        expect(chart).to_be_visible()
    expect(page.locator("#base-cohorts .plotly-graph-div")).to_have_count(2)
    expect(page.locator("#base-flows .sankey")).to_have_count(1)
    expect(page.locator("template[data-chart]")).to_have_count(0)
    page.select_option("select[name=segment]", label="Shanghai")
    page.click("text=Apply filters")
    expect(page.locator(".result-count")).to_contain_text("20 customers in Shanghai")
    assert page.problems == []


@pytest.mark.usefixtures("shop", "issued_coupons")
def test_a_customer_base_too_slow_for_the_page_is_computed_in_the_background(
    live_server, page, settings
):
    settings.REPORT_TIME_LIMIT_SECONDS = 0.5
    log_in(page, live_server)
    shanghai = Segment.objects.get(name="Shanghai")
    url = f"{live_server.url}/reports/customers/?segment={shanghai.pk}"

    # when the page cannot compute the segment's customer base in time
    with customer_table_locked():
        page.goto(url)
        expect(page.locator(".filters .form-error")).to_contain_text(
            "took longer than 0.5 s and was stopped"
        )
    # then it offers the background computation, whose result the page then shows
    page.click("text=Compute it in the background")

    expect(page.locator("#base-facts")).to_contain_text("Computed in the background as of")
    expect(page.locator(".result-count")).to_contain_text("20 customers in Shanghai")
    expect(page.locator("#base-stages .plotly-graph-div .main-svg").first).to_be_visible()
    assert page.problems == []
