"""The campaign report (SPEC §6): what a campaign returned, per channel and in total, as of
a moment (the measures of analytics.campaign_measures), with its daily series of claims and
redemptions and its stock and budget burn."""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from analytics.campaign_measures import Lift, Measures, campaign_measures
from campaigns.models import Campaign
from campaigns.operator_time import operator_zone_name
from crm.core.replica import reads_replica, report_cursor


@dataclass(frozen=True)
class Day:
    date: date
    claimed: int
    redeemed: int


@dataclass(frozen=True)
class Burn:
    stock: int
    issued: int
    budget: Decimal
    spent: Decimal


@dataclass
class CampaignReport:
    campaign: Campaign
    as_of: datetime
    total: Measures
    channels: dict[str, Measures]
    series: list[Day]
    burn: Burn
    lift: Lift = field(repr=False, default=None)


@reads_replica
def campaign_report(*, campaign: Campaign, as_of: datetime) -> CampaignReport:
    """The report of `campaign` as of `as_of` (SPEC §6)."""
    measures = campaign_measures(campaign_ids=[campaign.pk], as_of=as_of).campaigns[campaign.pk]
    with report_cursor() as cursor:
        series = _series(cursor, campaign, as_of)
        burn = _burn(cursor, campaign, as_of)
    return CampaignReport(
        campaign=campaign,
        as_of=as_of,
        total=measures.total,
        channels=measures.channels,
        series=series,
        burn=burn,
        lift=measures.lift,
    )


def _series(cursor, campaign, as_of) -> list[Day]:
    """Claims and live redemptions per operator calendar day, from the window's first day
    to the last day up to `as_of` (days without any included)."""
    until = min(campaign.claim_ends_at, as_of)
    if until < campaign.claim_starts_at:
        return []
    cursor.execute(
        """
        WITH days AS (
            SELECT generate_series((%(start)s AT TIME ZONE %(zone)s)::date,
                                   (%(until)s AT TIME ZONE %(zone)s)::date,
                                   interval '1 day')::date AS day
        ), claims AS (
            SELECT (granted_at AT TIME ZONE %(zone)s)::date AS day, count(*) AS n
            FROM campaigns_grant WHERE campaign_id = %(campaign)s AND granted_at <= %(as_of)s
            GROUP BY 1
        ), redemptions AS (
            SELECT (r.redeemed_at AT TIME ZONE %(zone)s)::date AS day, count(*) AS n
            FROM campaigns_redemption r JOIN campaigns_coupon c ON c.id = r.coupon_id
            WHERE c.campaign_id = %(campaign)s AND r.redeemed_at <= %(as_of)s
              AND (r.reversed_at IS NULL OR r.reversed_at > %(as_of)s)
            GROUP BY 1
        )
        SELECT d.day, coalesce(c.n, 0), coalesce(r.n, 0)
        FROM days d LEFT JOIN claims c USING (day) LEFT JOIN redemptions r USING (day)
        ORDER BY d.day
        """,
        {
            "start": campaign.claim_starts_at,
            "until": until,
            "as_of": as_of,
            "zone": operator_zone_name(),
            "campaign": campaign.pk,
        },
    )
    return [Day(day, claimed, redeemed) for day, claimed, redeemed in cursor.fetchall()]


def _burn(cursor, campaign, as_of) -> Burn:
    """Stock and budget against the coupons issued by `as_of` and their face value (what the
    engine counts against the budget); a coupon revoked by then was given back."""
    cursor.execute(
        """
        SELECT count(*), coalesce(sum(face_value), 0) FROM campaigns_coupon
        WHERE campaign_id = %s AND issued_at <= %s
          AND NOT (status = 'revoked' AND status_changed_at <= %s)
        """,
        [campaign.pk, as_of, as_of],
    )
    issued, spent = cursor.fetchone()
    return Burn(stock=campaign.stock, issued=issued, budget=campaign.budget, spent=spent)
