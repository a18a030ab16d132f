"""The live monitor of running campaigns (SPEC §6): grants per minute, stock and budget
left, refusals by reason, and the pushes in progress, as of `now`, in three grouped
statements whatever the number of campaigns."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Q

from campaigns import selectors as campaign_selectors
from campaigns.enums import CampaignStatus, DeliveryState
from campaigns.models import Campaign, DeliveryRun
from crm.core.replica import reads_replica, report_cursor

# The grants-per-minute window, and the refusals' (a marketer watches the last hour).
MINUTES = 30
REFUSAL_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class LiveCampaign:
    campaign: Campaign
    # Grants in each of the last MINUTES whole minutes up to now, oldest first; the last
    # entry is the minute in progress.
    per_minute: list[int]
    stock_left: int
    budget_left: Decimal
    # SPEC §5 reason -> claims refused in the last REFUSAL_WINDOW, most first.
    refusals: dict[str, int]

    @property
    def last_minute(self) -> int:
        return self.per_minute[-1]

    @property
    def peak(self) -> int:
        return max(self.per_minute)


@dataclass(frozen=True)
class LiveMonitor:
    now: datetime
    campaigns: list[LiveCampaign]
    pushes: list[tuple[Campaign, campaign_selectors.PushProgress]]


@reads_replica
def live_monitor(*, now: datetime) -> LiveMonitor:
    """Running campaigns (and any campaign whose push is not over) as of `now`."""
    unfinished = (DeliveryState.PENDING, DeliveryState.RUNNING, DeliveryState.PAUSED)
    campaigns = list(
        Campaign.objects.filter(
            Q(status=CampaignStatus.RUNNING) | Q(push__state__in=unfinished)
        ).order_by("claim_ends_at", "code")
    )
    ids = [campaign.pk for campaign in campaigns]
    per_minute = _grants_per_minute(ids, now)
    refusals = _refusals(ids, now)
    runs = list(
        DeliveryRun.objects.filter(campaign_id__in=ids, state__in=unfinished).select_related(
            "campaign"
        )
    )
    return LiveMonitor(
        now=now,
        campaigns=[
            LiveCampaign(
                campaign=campaign,
                per_minute=per_minute.get(campaign.pk, [0] * MINUTES),
                stock_left=max(campaign.stock - campaign.issued_count, 0),
                budget_left=max(campaign.budget - campaign.spent, Decimal("0.00")),
                refusals=refusals.get(campaign.pk, {}),
            )
            for campaign in campaigns
        ],
        pushes=[
            (run.campaign, progress)
            for run, progress in zip(runs, campaign_selectors.push_progress(runs=runs), strict=True)
        ],
    )


def _grants_per_minute(ids: list[int], now: datetime) -> dict[int, list[int]]:
    with report_cursor() as cursor:
        cursor.execute(
            """
            WITH minutes AS (
                SELECT generate_series(date_trunc('minute', %(now)s::timestamptz)
                                       - (%(minutes)s - 1) * interval '1 minute',
                                       date_trunc('minute', %(now)s::timestamptz),
                                       interval '1 minute') AS minute
            ), grants AS (
                SELECT campaign_id, date_trunc('minute', granted_at) AS minute, count(*) AS n
                FROM campaigns_grant
                WHERE campaign_id = ANY(%(ids)s) AND granted_at <= %(now)s
                  AND granted_at >= date_trunc('minute', %(now)s::timestamptz)
                                    - (%(minutes)s - 1) * interval '1 minute'
                GROUP BY 1, 2
            )
            SELECT c.id, array_agg(coalesce(g.n, 0) ORDER BY m.minute)
            FROM unnest(%(ids)s::bigint[]) AS c(id) CROSS JOIN minutes m
            LEFT JOIN grants g ON g.campaign_id = c.id AND g.minute = m.minute
            GROUP BY c.id
            """,
            {"ids": ids, "now": now, "minutes": MINUTES},
        )
        return dict(cursor.fetchall())


def _refusals(ids: list[int], now: datetime) -> dict[int, dict[str, int]]:
    with report_cursor() as cursor:
        cursor.execute(
            """
            SELECT campaign_id, reason, count(*) FROM campaigns_couponevent
            WHERE campaign_id = ANY(%s) AND kind = 'refusal' AND at > %s AND at <= %s
            GROUP BY campaign_id, reason ORDER BY campaign_id, count(*) DESC, reason
            """,
            [ids, now - REFUSAL_WINDOW, now],
        )
        refusals: dict[int, dict[str, int]] = {}
        for pk, reason, number in cursor.fetchall():
            refusals.setdefault(pk, {})[reason] = number
        return refusals
