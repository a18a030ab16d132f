"""The campaign report on the campaign page (templates/campaigns/campaign_detail.html): an
inclusion tag, as campaigns never imports analytics (analytics reads campaigns)."""

from django import template
from django.utils import timezone

from analytics.campaign_report import MIN_HOLDOUT, campaign_report

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


RATES = {"claim_rate", "redemption_rate"}
MONEY = {"gmv", "cost", "aov"}


def shown(key: str, value) -> str | None:
    """A measure as the page writes it (None: no denominator)."""
    if value is None:
        return None
    if key in RATES:
        return f"{value:.1%}"
    if key in MONEY:
        return f"{value:,.2f}"
    if key == "roi":
        return f"{value:.2f}"
    return f"{value:,}"


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
