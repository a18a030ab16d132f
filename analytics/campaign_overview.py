"""The campaigns overview: the campaigns a period saw, side by side with SPEC §6's
measures, and the same measures per channel across them (which channel returns the most per
unit of cost).

A campaign is in the period when its claim window overlaps it; its measures are the
campaign report's as of the period's end (or now, for a period not over yet), so a row
equals the campaign's report at that moment."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from analytics.campaign_measures import Measures, campaign_measures, facts_boundary
from analytics.filters import Period
from campaigns.models import Campaign
from crm.core.replica import reads_replica

# Orderings the overview takes: campaign attributes, then measures (None last either way).
ATTRIBUTE_ORDERINGS = (
    "code",
    "name",
    "status",
    "business_line",
    "campaign_type",
    "claim_starts_at",
)
MEASURE_ORDERINGS = (
    "audience",
    "claimed",
    "claim_rate",
    "redeemed",
    "redemption_rate",
    "gmv",
    "cost",
    "roi",
    "aov",
    "incremental_gmv",
    "lift",
)
ORDERINGS = ATTRIBUTE_ORDERINGS + MEASURE_ORDERINGS
DEFAULT_ORDERING = "-gmv"


@dataclass(frozen=True)
class OverviewRow:
    campaign: Campaign
    measures: Measures


@dataclass(frozen=True)
class CampaignOverview:
    period: Period
    as_of: datetime
    rows: list[OverviewRow]
    channels: dict[str, Measures]
    total: Measures
    # Activity before facts_until comes from the hourly facts built at facts_built_at (None:
    # none were read).
    facts_until: datetime | None = None
    facts_built_at: datetime | None = None


@reads_replica
def campaign_overview(
    *, campaigns: QuerySet[Campaign], period: Period, now: datetime, ordering: str = ""
) -> CampaignOverview:
    """`campaigns` (already limited to the period) with their measures as of the period's
    end or `now`, whichever is earlier, sorted by `ordering` (a name of ORDERINGS, `-` for
    descending; DEFAULT_ORDERING otherwise)."""
    as_of = min(period.ends_at, now)
    chosen = list(campaigns.prefetch_related("channels"))
    measures = campaign_measures(campaign_ids=[c.pk for c in chosen], as_of=as_of)
    rows = [OverviewRow(c, measures.campaigns[c.pk].total) for c in chosen]
    facts = [m.facts for m in measures.campaigns.values() if m.facts is not None]
    return CampaignOverview(
        period=period,
        as_of=as_of,
        rows=_sorted(rows, ordering if ordering.lstrip("-") in ORDERINGS else DEFAULT_ORDERING),
        channels=measures.channels,
        total=measures.total,
        facts_until=min((facts_boundary(f, as_of) for f in facts), default=None),
        facts_built_at=min((f.built_at for f in facts), default=None),
    )


def _sorted(rows: list[OverviewRow], ordering: str) -> list[OverviewRow]:
    key = ordering.lstrip("-")
    descending = ordering.startswith("-")

    def value(row: OverviewRow):
        if key in ATTRIBUTE_ORDERINGS:
            return getattr(row.campaign, key)
        return getattr(row.measures, key)

    # The campaign code breaks ties, so pages never shuffle; rows without a value go last.
    rows = sorted(rows, key=lambda row: row.campaign.code)
    present = [row for row in rows if value(row) is not None]
    absent = [row for row in rows if value(row) is None]
    return sorted(present, key=value, reverse=descending) + absent
