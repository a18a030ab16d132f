"""The home page's campaign activity (templates/crm/home.html): an inclusion tag, as crm
never imports analytics (analytics reads crm)."""

from django import template

from analytics.campaign_activity import campaign_activity

register = template.Library()


@register.inclusion_tag("analytics/campaign_activity.html")
def campaign_activity_panel(as_of, days: int) -> dict:
    """Campaign activity in the last `days` against the `days` before, as of `as_of`."""
    return {"activity": campaign_activity(as_of=as_of, days=days)}
