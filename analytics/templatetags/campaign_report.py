"""The campaign report on the campaign page (templates/campaigns/campaign_detail.html): an
inclusion tag, as campaigns never imports analytics (analytics reads campaigns)."""

from django import template
from django.utils import timezone

from analytics.campaign_measures import MIN_HOLDOUT
from analytics.campaign_report import campaign_report
from analytics.templatetags.measures import shown

register = template.Library()

MEASURE_ROWS = (
    ("delivered", "Delivered"),
    ("delivery_failed", "Delivery failed"),
    ("claimed", "Claimed"),
    ("claim_rate", "Claim rate"),
    ("redeemed", "Redeemed"),
    ("redemption_rate", "Redemption rate"),
    ("gmv", "GMV"),
    ("cost", "Discount cost"),
    ("roi", "ROI"),
    ("aov", "Average order value"),
)


@register.inclusion_tag("analytics/campaign_report.html")
def campaign_report_panel(campaign) -> dict:
    """SPEC §6's measures of the campaign as of now, total and per channel."""
    report = campaign_report(campaign=campaign, as_of=timezone.now())
    columns = [("Total", report.total), *report.channels.items()]
    return {
        "report": report,
        "columns": [name for name, _ in columns],
        "rows": [
            (key, label, [shown(key, getattr(measures, key)) for _, measures in columns])
            for key, label in MEASURE_ROWS
        ],
        "min_holdout": MIN_HOLDOUT,
    }
