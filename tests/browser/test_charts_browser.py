"""Charts in a real browser (STYLE §2.8): plotly.min.js comes deferred, only on pages with a
chart, and static/js/charts.js draws every chart once it has run, on the home page, a
segment page, the campaign report and in content htmx swaps in; with no console error."""

import os
import tempfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from analytics.charts import chart_html, lifecycle_stage_figure
from campaigns.services.claims import claim_coupon
from campaigns.services.redemptions import OrderLine, redeem_coupon
from crm.selectors import StageCount
from segments.models import Segment, SegmentSizeSnapshot
from segments.rules import canonical_rules
from tests.campaigns.conftest import (  # noqa: F401 - fixtures, found by name
    app_push,
    fresh_cache,
    lenient_harassment_rules,
    make_campaign,
    make_template,
    shanghai,
)
from tests.conftest import make_user
from tests.factories import CustomerFactory

pytestmark = [
    pytest.mark.browser,
    # live_server runs in another thread, so the test data must be committed.
    pytest.mark.django_db(transaction=True),
]

DRAWN = ".plotly-graph-div .main-svg"
# A screenshot of the campaign report, for a person to look at the charts.
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", tempfile.gettempdir()))


@pytest.fixture
def marketer_and_shoppers(db):
    make_user("marketer")
    for number in range(4):
        CustomerFactory(customer_id=f"S{number}", city="Shanghai")


def log_in(page, live_server) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "marketer")
    page.fill("input[name=password]", "pw-marketer")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Customer base")


def scripts_of(page) -> dict:
    """Where the page's Plotly and chart scripts are, and whether Plotly has run."""
    return page.evaluate(
        """() => ({
            inHead: document.head.querySelectorAll('script[src*="plotly"]').length,
            plotly: [...document.querySelectorAll('script[src$="/vendor/plotly.min.js"]')]
                .map((script) => script.defer),
            charts: [...document.querySelectorAll('script[src$="/js/charts.js"]')]
                .map((script) => script.defer),
            plotlyRan: typeof window.Plotly !== "undefined",
            inert: document.querySelectorAll("template[data-chart]").length,
        })"""
    )


def test_the_home_page_draws_its_stage_chart_once_plotly_has_loaded(
    live_server, marketer_and_shoppers, page
):
    # when the marketer logs in and lands on the home page
    log_in(page, live_server)

    # then the chart is drawn, from Plotly loaded deferred at the end of the body
    expect(page.locator(f"#stage-chart {DRAWN}").first).to_be_visible()
    assert scripts_of(page) == {
        "inHead": 0,
        "plotly": [True],
        "charts": [True],
        "plotlyRan": True,
        "inert": 0,
    }
    assert page.problems == []


def test_a_chart_htmx_swaps_in_later_is_drawn(live_server, marketer_and_shoppers, page):
    # given the home page, and a fragment holding a chart as the pages render one
    log_in(page, live_server)
    expect(page.locator(f"#stage-chart {DRAWN}").first).to_be_visible()
    fragment = '<div id="late-chart">{}</div>'.format(
        chart_html(lifecycle_stage_figure([StageCount("new", "New", 3)]))
    )
    page.route(
        "**/late-chart/",
        lambda route: route.fulfill(status=200, content_type="text/html", body=fragment),
    )

    # when htmx swaps it into the page
    page.evaluate("htmx.ajax('GET', '/late-chart/', {target: '#stage-chart', swap: 'beforeend'})")

    # then it is drawn too
    expect(page.locator(f"#late-chart {DRAWN}").first).to_be_visible()
    assert page.locator("template[data-chart]").count() == 0
    assert page.problems == []


def test_a_page_without_charts_never_asks_for_plotly(live_server, marketer_and_shoppers, page):
    # given
    log_in(page, live_server)
    requested = []
    page.on("request", lambda request: requested.append(request.url))

    # when
    page.click(".site-nav >> text=Customers")
    expect(page.locator("h1")).to_have_text("Customers")
    page.wait_for_load_state("load")

    # then
    assert live_server.url + reverse("customer-list") in requested
    assert [url for url in requested if "plotly" in url or "charts.js" in url] == []
    assert scripts_of(page) == {
        "inHead": 0,
        "plotly": [],
        "charts": [],
        "plotlyRan": False,
        "inert": 0,
    }
    assert page.problems == []


def test_a_segment_page_draws_its_size_history(live_server, marketer_and_shoppers, page):
    # given a segment counted at two refreshes
    segment = Segment.objects.create(
        name="Shanghai", rules=canonical_rules({"field": "city", "op": "eq", "value": "Shanghai"})
    )
    SegmentSizeSnapshot.objects.create(segment=segment, at=segment.created_at, size=3)
    SegmentSizeSnapshot.objects.create(
        segment=segment, at=segment.created_at + timedelta(hours=1), size=4
    )

    # when
    log_in(page, live_server)
    page.goto(live_server.url + reverse("segment-detail", args=[segment.pk]))

    # then the chart is drawn, and the size htmx loads after it arrives
    expect(page.locator(f"#size-history {DRAWN}").first).to_be_visible()
    expect(page.locator("#segment-summary")).to_contain_text("Members now")
    assert scripts_of(page)["inert"] == 0
    assert page.problems == []


@pytest.fixture
def claimed(marketer_and_shoppers, make_campaign, as_of):  # noqa: F811 - the fixture above
    """A campaign that has run: two claims on 30 June, one redeemed on 1 July."""
    campaign = make_campaign()
    coupons = [
        claim_coupon(
            campaign=campaign.code,
            customer=customer_id,
            channel="app_push",
            trigger="login",
            idempotency_key=f"charts-{customer_id}",
            now=as_of - timedelta(hours=2),
        ).coupons[0]
        for customer_id in ("S1", "S2")
    ]
    redeem_coupon(
        code=coupons[0].code,
        customer=coupons[0].customer,
        order_id="CHART-1",
        amount=Decimal("60.00"),
        items=[OrderLine(sku="N1", category="nuts", quantity=1, unit_price=Decimal("60.00"))],
        store="S1",
        city="Shanghai",
        now=as_of + timedelta(hours=16),
    )
    return campaign


def test_the_campaign_page_draws_the_reports_series_and_burn(live_server, claimed, page):
    # when
    log_in(page, live_server)
    page.goto(live_server.url + reverse("campaign-detail", args=[claimed.code]))

    # then both charts of the report are drawn
    expect(page.locator(f"#report-series {DRAWN}").first).to_be_visible()
    expect(page.locator(f"#report-burn {DRAWN}").first).to_be_visible()
    # the series: a line of claims and one of redemptions; the burn: used and left
    expect(page.locator("#report-series .scatterlayer .trace")).to_have_count(2)
    expect(page.locator("#report-burn .barlayer .trace")).to_have_count(2)
    page.locator("#report").screenshot(path=SCREENSHOTS / "opscrm-campaign-report.png")
    assert scripts_of(page) == {
        "inHead": 0,
        "plotly": [True],
        "charts": [True],
        "plotlyRan": True,
        "inert": 0,
    }
    assert page.problems == []
