"""The charts of analytics/charts.py as template tags, for the pages of crm and segments:
those apps are lower than analytics and never import it (STYLE §2.1), so their views put
the rows in the context and their templates draw them, as the campaign page does with
its report panel. A page using one of these tags includes
templates/components/charts.html in its `charts` block.
"""

from django import template
from django.utils.safestring import SafeString

from analytics.campaign_measures import Measures
from analytics.campaign_report import Burn, Day
from analytics.charts import (
    aipl_funnel_figure,
    campaign_burn_figure,
    campaign_series_figure,
    channel_return_figure,
    chart_html,
    cohort_ltv_figure,
    cohort_retention_figure,
    lifecycle_stage_figure,
    rfm_grid_figure,
    segment_ltv_figure,
    size_history_figure,
    stage_flows_figure,
    stages_by_month_figure,
)
from crm.selectors import StageCount
from segments.models import SegmentSizeSnapshot

register = template.Library()


@register.simple_tag
def lifecycle_stage_chart(stages: list[StageCount]) -> SafeString:
    """The home page's customers per lifecycle stage."""
    return chart_html(lifecycle_stage_figure(stages))


@register.simple_tag
def size_history_chart(history: list[SegmentSizeSnapshot]) -> SafeString:
    """The segment page's size at each refresh."""
    return chart_html(size_history_figure(history))


@register.simple_tag
def campaign_series_chart(series: list[Day]) -> SafeString:
    """The campaign report's claims and redemptions per day."""
    return chart_html(campaign_series_figure(series))


@register.simple_tag
def campaign_burn_chart(burn: Burn) -> SafeString:
    """The campaign report's stock issued and budget spent."""
    return chart_html(campaign_burn_figure(burn))


@register.simple_tag
def channel_return_chart(channels: dict[str, Measures]) -> SafeString:
    """The overview's GMV and discount cost per channel."""
    return chart_html(channel_return_figure(channels))


# The customer base page: each chart of analytics.charts by name, from its rows.
CUSTOMER_BASE_CHARTS = {
    "stages": stages_by_month_figure,
    "flows": stage_flows_figure,
    "rfm": rfm_grid_figure,
    "funnel": aipl_funnel_figure,
    "retention": cohort_retention_figure,
    "ltv": cohort_ltv_figure,
    "segments": segment_ltv_figure,
}


@register.simple_tag
def customer_base_chart(name: str, rows) -> SafeString:
    """`{% customer_base_chart "flows" base.flows %}`: one of the customer base's charts."""
    return chart_html(CUSTOMER_BASE_CHARTS[name](rows))
