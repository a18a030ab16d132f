"""The Plotly charts of the pages: pure functions from rows to `go.Figure`, and `chart_html`,
the one way a page embeds a figure (STYLE §2.8).

They live here, not in each app's views, so that every chart is built and embedded the same
way, and so that plotly.min.js (4.8 MB) can be left out of every page that has none: loaded
render-blocking in base.html's <head> on every page, it made cold first visits 2.0-3.7 s
instead of 0.6-0.8 s. A page with a chart now loads it deferred
(templates/components/charts.html), and static/js/charts.js draws the figures once it has
run. crm and segments are lower apps than analytics, so their pages reach these functions
through the template tags of analytics/templatetags/charts.py, not through an import.
"""

from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal

import plotly.graph_objects as go
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from analytics.campaign_measures import Measures
from analytics.campaign_report import Burn, Day
from analytics.customer_base import Cohort, Flow, FunnelStep, MonthStages, RfmCell, SegmentValue
from crm.enums import LifecycleStage
from crm.selectors import StageCount
from segments.models import SegmentSizeSnapshot

# The same for every chart: no Plotly logo in the mode bar, and the figure follows the width
# of its container.
CHART_CONFIG = {"displaylogo": False, "responsive": True}

FONT = {"family": "system-ui, sans-serif", "size": 13, "color": "#334155"}
TRANSPARENT = "rgba(0,0,0,0)"
# Every chart sits on the page's own background, in its font.
PAGE_LOOK = {"paper_bgcolor": TRANSPARENT, "plot_bgcolor": TRANSPARENT, "font": FONT}

# Ink for the lifecycle chart, in rule order; green for healthy stages, warm for lapsing.
STAGE_COLOURS = {
    "potential": "#94a3b8",
    "churned": "#dc2626",
    "silent": "#f59e0b",
    "new": "#0ea5e9",
    "mature": "#16a34a",
    "declining": "#f97316",
    "growing": "#22c55e",
}

CLAIMED_COLOUR = "#2563eb"
REDEEMED_COLOUR = "#16a34a"
SPENT_COLOUR = "#f59e0b"
LEFT_COLOUR = "#e2e8f0"

# With up to two weeks of days a tick per day; beyond, Plotly's own spacing (whole days or
# more, as the axis holds dates), or the labels would overlap.
DAILY_TICKS_UP_TO = 14
ONE_DAY_MS = 86_400_000


def chart_html(figure: go.Figure) -> SafeString:
    """The figure as page markup, inert until static/js/charts.js draws it.

    `to_html` writes an inline <script> that calls `Plotly.newPlot` at once, which would throw
    before the deferred plotly.min.js has run; inside a <template> the script does not run,
    and charts.js imports the template's content (its script then runs) once Plotly is
    there. A page showing one includes templates/components/charts.html. Plotly writes `<`,
    `>` and `/` in the figure's JSON as \\u escapes, so no value can end the template.
    """
    markup = figure.to_html(full_html=False, include_plotlyjs=False, config=CHART_CONFIG)
    return format_html("<template data-chart>{}</template>", SafeString(markup))


def lifecycle_stage_figure(stages: list[StageCount]) -> go.Figure:
    """Bar chart of customers per lifecycle stage, stages in rule order."""
    figure = go.Figure(
        go.Bar(
            x=[stage.label for stage in stages],
            y=[stage.customers for stage in stages],
            marker_color=[STAGE_COLOURS.get(stage.stage, "#64748b") for stage in stages],
            text=[f"{stage.customers:,}" for stage in stages],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{x}: %{y:,} customers<extra></extra>",
        )
    )
    figure.update_layout(
        height=300,
        margin={"l": 48, "r": 16, "t": 24, "b": 36},
        **PAGE_LOOK,
        yaxis={"gridcolor": "#e2e8f0", "rangemode": "tozero", "tickformat": ",d"},
        bargap=0.35,
    )
    return figure


def size_history_figure(history: list[SegmentSizeSnapshot]) -> go.Figure:
    """Line chart of the size counted at each refresh."""
    moments = [timezone.localtime(point.at) for point in history]
    figure = go.Figure(
        go.Scatter(
            x=moments,
            y=[point.size for point in history],
            mode="lines+markers",
            line={"color": "#2563eb", "width": 2},
            marker={"size": 6},
            hovertemplate="%{x|%Y-%m-%d %H:%M}: %{y:,} members<extra></extra>",
        )
    )
    xaxis = {"gridcolor": "#f1f5f9", "type": "date", "tickformat": "%Y-%m-%d"}
    if len(moments) == 1:
        # One point: a week around it rather than Plotly's milliseconds-wide axis.
        xaxis["range"] = [moments[0] - timedelta(days=3), moments[0] + timedelta(days=3)]
    figure.update_layout(
        height=260,
        margin={"l": 56, "r": 16, "t": 16, "b": 36},
        **PAGE_LOOK,
        yaxis=_count_axis(point.size for point in history),
        xaxis=xaxis,
    )
    return figure


def campaign_series_figure(series: list[Day]) -> go.Figure:
    """Lines of the claims and the live redemptions of each day of the campaign's window."""
    days = [day.date for day in series]
    figure = go.Figure(
        [
            go.Scatter(
                x=days,
                y=[day.claimed for day in series],
                name="Claimed",
                mode="lines+markers",
                line={"color": CLAIMED_COLOUR, "width": 2},
                marker={"size": 6},
                hovertemplate="%{y:,} claimed<extra></extra>",
            ),
            go.Scatter(
                x=days,
                y=[day.redeemed for day in series],
                name="Redeemed",
                mode="lines+markers",
                line={"color": REDEEMED_COLOUR, "width": 2},
                marker={"size": 6},
                hovertemplate="%{y:,} redeemed<extra></extra>",
            ),
        ]
    )
    xaxis = {"gridcolor": "#f1f5f9", "type": "date", "tickformat": "%Y-%m-%d"}
    if 0 < len(days) <= DAILY_TICKS_UP_TO:
        # Whole days: without it a short window gets ticks every 12 hours and repeats labels.
        xaxis["dtick"] = ONE_DAY_MS
    if len(days) == 1:
        # One day: a week around it rather than Plotly's milliseconds-wide axis.
        xaxis["range"] = [days[0] - timedelta(days=3), days[0] + timedelta(days=3)]
    figure.update_layout(
        height=260,
        margin={"l": 56, "r": 16, "t": 32, "b": 36},
        **PAGE_LOOK,
        hovermode="x unified",
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        yaxis=_count_axis([day.claimed for day in series] + [day.redeemed for day in series]),
        xaxis=xaxis,
    )
    return figure


def campaign_burn_figure(burn: Burn) -> go.Figure:
    """Two bars: the share of the stock issued and of the budget spent, the rest of each in
    grey, the amounts in the labels.

    Campaign.stock and Campaign.budget are required and a zero is no "unlimited": the
    database keeps issued <= stock and spent <= budget, so a zero stock or budget lets
    nothing be issued. Such a bar is empty and its label says so; nothing is divided by it.
    """
    stock_note = " (no stock)" if burn.stock == 0 else ""
    budget_note = " (no budget)" if burn.budget == 0 else ""
    labels = [
        f"Coupons issued<br>{burn.issued:,} of {burn.stock:,}{stock_note}",
        f"Budget spent<br>{burn.spent:,.2f} of {burn.budget:,.2f}{budget_note}",
    ]
    shares = [_share(burn.issued, burn.stock), _share(burn.spent, burn.budget)]
    used = [share or 0.0 for share in shares]
    # A report as of an earlier moment may count more than a stock lowered since: no grey.
    left = [max(100.0 - share, 0.0) if share is not None else 0.0 for share in shares]
    figure = go.Figure(
        [
            go.Bar(
                y=labels,
                x=used,
                orientation="h",
                name="Used",
                marker_color=[CLAIMED_COLOUR, SPENT_COLOUR],
                text=[f"{share:.0f}%" if share is not None else "" for share in shares],
                textposition="inside",
                insidetextanchor="start",
                hovertemplate="%{x:.1f}% used<extra></extra>",
            ),
            go.Bar(
                y=labels,
                x=left,
                orientation="h",
                name="Left",
                marker_color=LEFT_COLOUR,
                hovertemplate="%{x:.1f}% left<extra></extra>",
            ),
        ]
    )
    figure.update_layout(
        height=180,
        margin={"l": 16, "r": 32, "t": 8, "b": 36},
        **PAGE_LOOK,
        barmode="stack",
        bargap=0.4,
        showlegend=False,
        # A share too small for its label inside the bar shows none (the hover has it).
        uniformtext={"minsize": 11, "mode": "hide"},
        xaxis={
            "range": [0, max(100.0, *used)],
            "ticksuffix": "%",
            "gridcolor": "#e2e8f0",
            "fixedrange": True,
        },
        # First row at the top; labels as wide as they need.
        yaxis={"autorange": "reversed", "automargin": True, "fixedrange": True},
    )
    return figure


def channel_return_figure(channels: dict[str, Measures]) -> go.Figure:
    """Per channel, GMV beside the discount cost that bought it, ROI in the hover: which
    channel returns the most per unit of cost."""
    codes = list(channels)
    roi = [channels[code].roi for code in codes]
    figure = go.Figure(
        [
            go.Bar(
                x=codes,
                y=[float(channels[code].gmv) for code in codes],
                name="GMV",
                marker_color=CLAIMED_COLOUR,
                customdata=[["—" if r is None else f"{r:.2f}"] for r in roi],
                hovertemplate="GMV %{y:,.2f} (ROI %{customdata[0]})<extra></extra>",
            ),
            go.Bar(
                x=codes,
                y=[float(channels[code].cost) for code in codes],
                name="Discount cost",
                marker_color=REDEEMED_COLOUR,
                hovertemplate="Cost %{y:,.2f}<extra></extra>",
            ),
        ]
    )
    figure.update_layout(
        barmode="group",
        height=260,
        margin={"l": 56, "r": 16, "t": 32, "b": 36},
        **PAGE_LOOK,
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        yaxis={"gridcolor": "#e2e8f0", "rangemode": "tozero", "tickformat": ",.0f"},
    )
    return figure


# Customer base ---------------------------------------------------------------------------

STAGE_LABELS = {stage.value: stage.label for stage in LifecycleStage}


def _customer_base_layout(figure: go.Figure, *, height: int = 300, **extra) -> go.Figure:
    figure.update_layout(
        height=height,
        margin={"l": 56, "r": 16, "t": 32, "b": 40},
        **PAGE_LOOK,
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        **extra,
    )
    return figure


def stages_by_month_figure(months: list[MonthStages]) -> go.Figure:
    """Stacked bars: customers per lifecycle stage at each month's end."""
    labels = [month.month.strftime("%Y-%m") for month in months]
    figure = go.Figure(
        [
            go.Bar(
                x=labels,
                y=[month.stages[stage] for month in months],
                name=label,
                marker_color=STAGE_COLOURS[stage],
                hovertemplate=f"{label}: %{{y:,}}<extra></extra>",
            )
            for stage, label in STAGE_LABELS.items()
        ]
    )
    return _customer_base_layout(
        figure,
        barmode="stack",
        xaxis={"type": "category"},
        yaxis=_count_axis([sum(month.stages.values()) for month in months]),
    )


def stage_flows_figure(flows: list[Flow]) -> go.Figure:
    """A Sankey from the stages at the period's start (left) to those at its end (right)."""
    stages = list(STAGE_LABELS)
    nodes = [f"{STAGE_LABELS[s]} (start)" for s in stages] + [
        f"{STAGE_LABELS[s]} (end)" for s in stages
    ]
    figure = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={
                "label": nodes,
                "color": [STAGE_COLOURS[s] for s in stages] * 2,
                "pad": 12,
                "thickness": 14,
            },
            link={
                "source": [stages.index(flow.from_stage) for flow in flows],
                "target": [len(stages) + stages.index(flow.to_stage) for flow in flows],
                "value": [flow.customers for flow in flows],
                "hovertemplate": "%{source.label} → %{target.label}: %{value:,}<extra></extra>",
            },
        )
    )
    return _customer_base_layout(figure, height=360)


def rfm_grid_figure(cells: list[RfmCell]) -> go.Figure:
    """Heat map of customers by recency (rows, 5 on top) and frequency score (columns)."""
    recency = [5, 4, 3, 2, 1]
    frequency = [1, 2, 3, 4, 5]
    by_score = {(cell.recency, cell.frequency): cell for cell in cells}
    figure = go.Figure(
        go.Heatmap(
            z=[[by_score[(r, f)].customers for f in frequency] for r in recency],
            x=[f"F{f}" for f in frequency],
            y=[f"R{r}" for r in recency],
            customdata=[[f"{by_score[(r, f)].revenue:,.2f}" for f in frequency] for r in recency],
            text=[[f"{by_score[(r, f)].customers:,}" for f in frequency] for r in recency],
            texttemplate="%{text}",
            colorscale="Blues",
            hovertemplate="%{y} %{x}: %{z:,} customers, revenue %{customdata}<extra></extra>",
            showscale=False,
        )
    )
    return _customer_base_layout(figure, height=320, yaxis={"autorange": "reversed"})


def aipl_funnel_figure(steps: list[FunnelStep]) -> go.Figure:
    """The AIPL funnel, each step with its share of the first."""
    figure = go.Figure(
        go.Funnel(
            y=[step.step.capitalize() for step in steps],
            x=[step.customers for step in steps],
            textinfo="value+percent initial",
            marker={"color": [CLAIMED_COLOUR, SPENT_COLOUR, REDEEMED_COLOUR, "#7c3aed"]},
        )
    )
    return _customer_base_layout(figure, height=280)


def cohort_retention_figure(cohorts: list[Cohort]) -> go.Figure:
    """The retention triangle: a row per first-order month, a column per month since."""
    span = max((len(cohort.retention) for cohort in cohorts), default=0)
    shares = [
        [c.retention[k] * 100 if k < len(c.retention) else None for k in range(span)]
        for c in cohorts
    ]
    figure = go.Figure(
        go.Heatmap(
            z=shares,
            x=[f"+{k}" for k in range(span)],
            y=[f"{c.month:%Y-%m} ({c.customers:,})" for c in cohorts],
            colorscale="Greens",
            # Months not reached yet stay blank (the triangle), not "%".
            text=[["" if share is None else f"{share:.0f}%" for share in row] for row in shares],
            texttemplate="%{text}",
            hovertemplate="%{y}, month %{x}: %{z:.1f}% bought<extra></extra>",
            showscale=False,
        )
    )
    return _customer_base_layout(
        figure, height=max(240, 32 * len(cohorts) + 80), yaxis={"autorange": "reversed"}
    )


def cohort_ltv_figure(cohorts: list[Cohort]) -> go.Figure:
    """Lines of paid GMV per customer since the first order, one per cohort."""
    figure = go.Figure(
        [
            go.Scatter(
                x=list(range(len(cohort.ltv))),
                y=[float(value) for value in cohort.ltv],
                name=f"{cohort.month:%Y-%m}",
                mode="lines+markers",
                hovertemplate="month +%{x}: %{y:,.2f} per customer<extra></extra>",
            )
            for cohort in cohorts
        ]
    )
    return _customer_base_layout(
        figure, xaxis={"title": "Months since the first order", "dtick": 1}
    )


def segment_ltv_figure(values: list[SegmentValue]) -> go.Figure:
    """Bars of paid GMV per member, by segment."""
    shown = [value for value in values if value.ltv is not None]
    figure = go.Figure(
        go.Bar(
            x=[float(value.ltv) for value in shown],
            y=[value.segment.name for value in shown],
            orientation="h",
            marker_color=CLAIMED_COLOUR,
            customdata=[value.customers for value in shown],
            hovertemplate="%{y}: %{x:,.2f} per member (%{customdata:,} members)<extra></extra>",
        )
    )
    return _customer_base_layout(
        figure, height=max(200, 28 * len(shown) + 80), yaxis={"autorange": "reversed"}
    )


def _share(used: int | Decimal, limit: int | Decimal) -> float | None:
    """`used` as a percentage of `limit`; None for a zero limit (nothing may be used)."""
    return float(used) * 100 / float(limit) if limit else None


def _count_axis(counts: Iterable[int]) -> dict:
    yaxis = {"gridcolor": "#e2e8f0", "rangemode": "tozero", "tickformat": ",d"}
    if max(counts, default=0) < 5:
        # Whole numbers only: without it small counts get ticks at 0.5 and repeat labels.
        yaxis["dtick"] = 1
    return yaxis
