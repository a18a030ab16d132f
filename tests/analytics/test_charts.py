"""Charts (STYLE §2.8): only pages that show one load plotly.min.js, deferred at the end of
the body after the content; each chart comes inert in a <template data-chart> for
static/js/charts.js to draw; and the campaign report's figures hold the report's numbers,
a zero stock or budget included."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from analytics.campaign_report import Burn, Day
from analytics.charts import (
    campaign_burn_figure,
    campaign_series_figure,
    cohort_retention_figure,
    stages_by_month_figure,
)
from analytics.customer_base import Cohort, MonthStages
from campaigns.services.claims import claim_coupon
from campaigns.services.redemptions import OrderLine, redeem_coupon
from segments.models import Segment, SegmentSizeSnapshot
from segments.rules import canonical_rules
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

PLOTLY_TAG = '<script src="/static/vendor/plotly.min.js" defer></script>'
CHARTS_TAG = '<script src="/static/js/charts.js" defer></script>'
NUTS = [OrderLine(sku="N1", category="nuts", quantity=1, unit_price=Decimal("60.00"))]


@pytest.fixture
def marketer_client(client, marketer):
    client.force_login(marketer)
    return client


def chart_box(page: str, box_id: str) -> str:
    """What the page holds inside <div ... id="box_id">, up to the end of its first chart
    (Plotly writes `<` and `/` in its JSON as \\u escapes: no value holds "</template>")."""
    return page.split(f'id="{box_id}"', 1)[1].split(">", 1)[1].split("</template>", 1)[0]


def assert_loads_charts_once_deferred_at_the_end(page: str) -> None:
    head, body = page.split("</head>", 1)
    assert "plotly" not in head
    assert page.count("plotly.min.js") == 1
    assert page.count("js/charts.js") == 1
    # after the content, Plotly first (deferred scripts run in document order)
    main_end = body.index("</main>")
    assert main_end < body.index(PLOTLY_TAG) < body.index(CHARTS_TAG) < body.index("</body>")


def assert_every_chart_is_inert(page: str, charts: int) -> None:
    assert page.count("<template data-chart>") == charts
    assert page.count("Plotly.newPlot(") == charts
    # every call to Plotly is inside a template (outside one it would run before Plotly)
    outside = "".join(
        piece.split("</template>", 1)[-1] for piece in page.split("<template data-chart>")
    )
    assert "Plotly" not in outside


# Pages without a chart --------------------------------------------------------------------


@pytest.mark.parametrize(
    "url_name",
    ["customer-list", "segment-list", "campaign-list", "import-list", "coupon-list"],
)
def test_a_page_without_charts_does_not_load_plotly(marketer_client, url_name):
    # when
    response = marketer_client.get(reverse(url_name))

    # then
    page = response.content.decode()
    assert response.status_code == 200
    assert "plotly" not in page.lower()
    assert "charts.js" not in page
    assert "<template data-chart>" not in page


def test_the_login_page_does_not_load_plotly(client):
    page = client.get(reverse("login")).content.decode()
    assert "plotly" not in page.lower()


# Pages with charts ------------------------------------------------------------------------


def test_the_home_page_loads_plotly_deferred_and_its_stage_chart_is_inert(marketer_client):
    # given
    CustomerFactory(customer_id="C1")

    # when
    response = marketer_client.get(reverse("home"))

    # then
    page = response.content.decode()
    assert response.status_code == 200
    assert_loads_charts_once_deferred_at_the_end(page)
    assert_every_chart_is_inert(page, charts=1)
    stage_chart = chart_box(page, "stage-chart")
    assert stage_chart.startswith('<template data-chart><div style="height:300px; width:100%;">')
    assert 'class="plotly-graph-div"' in stage_chart
    assert '{"displaylogo": false, "responsive": true}' in stage_chart


def test_a_segment_page_with_history_loads_plotly_and_one_without_does_not(marketer_client, as_of):
    # given a segment refreshed once and one never refreshed
    refreshed = Segment.objects.create(
        name="Shanghai", rules=canonical_rules({"field": "city", "op": "eq", "value": "Shanghai"})
    )
    SegmentSizeSnapshot.objects.create(segment=refreshed, at=as_of, size=3)
    never = Segment.objects.create(
        name="Beijing", rules=canonical_rules({"field": "city", "op": "eq", "value": "Beijing"})
    )

    # when
    with_history = marketer_client.get(reverse("segment-detail", args=[refreshed.pk]))
    without = marketer_client.get(reverse("segment-detail", args=[never.pk]))

    # then
    page = with_history.content.decode()
    assert_loads_charts_once_deferred_at_the_end(page)
    assert_every_chart_is_inert(page, charts=1)
    assert chart_box(page, "size-history").startswith("<template data-chart>")
    page = without.content.decode()
    assert "No refresh yet." in page
    assert "plotly" not in page.lower()
    assert "<template data-chart>" not in page


@pytest.fixture
def claimed(make_campaign, as_of):
    """Campaign c1 (window as_of - 1 day .. as_of + 6 days): two claims on 30 June (operator
    time), one of them redeemed on 1 July."""
    campaign = make_campaign()
    coupons = [
        claim_coupon(
            campaign=campaign.code,
            customer=CustomerFactory(customer_id=customer_id, city="Shanghai").customer_id,
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
        items=NUTS,
        store="S1",
        city="Shanghai",
        now=as_of + timedelta(hours=16),
    )
    return campaign


def test_the_campaign_page_shows_the_reports_series_and_burn_charts(marketer_client, claimed):
    # when
    response = marketer_client.get(reverse("campaign-detail", args=[claimed.code]))
    panel = marketer_client.get(reverse("campaign-report-panel", args=[claimed.code]))

    # then the page loads Plotly for the report panel it fetches after it (htmx)
    page = response.content.decode()
    assert response.status_code == 200
    assert_loads_charts_once_deferred_at_the_end(page)
    assert f'hx-get="{reverse("campaign-report-panel", args=[claimed.code])}"' in page
    assert_every_chart_is_inert(page, charts=0)
    assert "<html" not in panel.content.decode()
    assert_every_chart_is_inert(panel.content.decode(), charts=2)
    report = panel.content.decode().split('id="report"', 1)[1].split("</article>", 1)[0]
    series = chart_box(report, "report-series")
    assert series.startswith("<template data-chart>")
    # the window's days in the operator's zone (Asia/Shanghai), claims and redemptions
    days = [f"2026-06-{day}" for day in (29, 30)] + [f"2026-07-0{day}" for day in range(1, 7)]
    assert '"x":["' + '","'.join(days) + '"]' in series
    assert '"y":[0,2,0,0,0,0,0,0],"type":"scatter"' in series
    assert '"y":[0,0,1,0,0,0,0,0],"type":"scatter"' in series
    burn = chart_box(report, "report-burn")
    assert burn.startswith("<template data-chart>")
    assert '"x":[2.0,2.0]' in burn  # 2 of 100 coupons, 20.00 of 1,000.00
    assert '"x":[98.0,98.0]' in burn


def test_the_campaign_page_before_its_window_has_only_the_burn_chart(
    marketer_client, make_campaign, as_of
):
    # given a campaign whose claims open in a year
    campaign = make_campaign(
        status="scheduled",
        claim_starts_at=as_of + timedelta(days=365),
        claim_ends_at=as_of + timedelta(days=372),
    )

    # when
    url = reverse("campaign-report-panel", args=[campaign.code])
    panel = marketer_client.get(url).content.decode()

    # then
    assert_every_chart_is_inert(panel, charts=1)
    report = panel.split('id="report"', 1)[1].split("</article>", 1)[0]
    assert '<p class="muted" id="report-series">Claims open 2027-06-30 20:00.</p>' in report
    assert chart_box(report, "report-burn").startswith("<template data-chart>")


# The report's figures ---------------------------------------------------------------------


def test_the_series_figure_has_a_line_of_claims_and_one_of_redemptions():
    # given
    series = [Day(date(2026, 6, 29), 4, 0), Day(date(2026, 6, 30), 7, 2)]

    # when
    figure = campaign_series_figure(series)

    # then
    claimed, redeemed = figure.data
    assert (claimed.name, claimed.x, claimed.y) == (
        "Claimed",
        (date(2026, 6, 29), date(2026, 6, 30)),
        (4, 7),
    )
    assert (redeemed.name, redeemed.x, redeemed.y) == (
        "Redeemed",
        (date(2026, 6, 29), date(2026, 6, 30)),
        (0, 2),
    )
    assert figure.layout.xaxis.dtick == 86_400_000  # a tick per day
    assert figure.layout.yaxis.dtick is None  # 7 claims: Plotly's own ticks


def test_a_one_day_series_gets_a_week_wide_axis_and_whole_ticks():
    figure = campaign_series_figure([Day(date(2026, 6, 29), 1, 1)])
    assert figure.layout.xaxis.range == (date(2026, 6, 26), date(2026, 7, 2))
    assert figure.layout.yaxis.dtick == 1


def test_the_burn_figure_shows_the_shares_used_and_left():
    # when
    figure = campaign_burn_figure(
        Burn(stock=200, issued=50, budget=Decimal("1000.00"), spent=Decimal("125.50"))
    )

    # then
    used, left = figure.data
    assert used.y == ("Coupons issued<br>50 of 200", "Budget spent<br>125.50 of 1,000.00")
    assert used.x == (25.0, 12.55)
    assert used.text == ("25%", "13%")
    assert left.x == (75.0, 87.45)
    assert figure.layout.xaxis.range == (0, 100.0)


def test_a_zero_stock_and_budget_give_empty_bars_not_a_division_by_zero():
    # given: the model's stock and budget are required; zero lets nothing be issued
    burn = Burn(stock=0, issued=0, budget=Decimal("0.00"), spent=Decimal("0"))

    # when
    figure = campaign_burn_figure(burn)

    # then
    used, left = figure.data
    assert used.y == (
        "Coupons issued<br>0 of 0 (no stock)",
        "Budget spent<br>0.00 of 0.00 (no budget)",
    )
    assert (used.x, used.text, left.x) == ((0.0, 0.0), ("", ""), (0.0, 0.0))


def test_a_report_counting_more_than_a_lowered_stock_shows_no_negative_rest():
    figure = campaign_burn_figure(
        Burn(stock=40, issued=50, budget=Decimal("100.00"), spent=Decimal("100.00"))
    )
    used, left = figure.data
    assert (used.x, left.x) == ((125.0, 100.0), (0.0, 0.0))
    assert figure.layout.xaxis.range == (0, 125.0)


STAGES = dict.fromkeys(
    ("potential", "churned", "silent", "new", "mature", "declining", "growing"), 0
)


def test_customer_base_charts_scale_their_axis_and_leave_future_months_blank():
    months = [
        MonthStages(
            date(2026, m, 1), datetime(2026, m + 1, 1, tzinfo=UTC), STAGES | {"new": 900 * m}
        )
        for m in (1, 2)
    ]
    stacked = stages_by_month_figure(months)
    # A tick per customer (dtick 1) would draw thousands of labels.
    assert stacked.layout.yaxis.dtick is None
    assert [bar.name for bar in stacked.data][:2] == ["Potential", "Churned"]
    few = stages_by_month_figure([MonthStages(date(2026, 1, 1), months[0].at, STAGES | {"new": 3})])
    assert few.layout.yaxis.dtick == 1
    triangle = cohort_retention_figure(
        [
            Cohort(date(2026, 1, 1), 4, [1.0, 0.5], [Decimal("10.00"), Decimal("15.00")]),
            Cohort(date(2026, 2, 1), 2, [1.0], [Decimal("20.00")]),
        ]
    )
    assert [list(row) for row in triangle.data[0].text] == [["100%", "50%"], ["100%", ""]]
