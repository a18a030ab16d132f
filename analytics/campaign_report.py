"""The campaign report (SPEC §6): what a campaign returned, per channel and in total, as of
a moment (the measures of analytics.campaign_measures), with its daily series of claims and
redemptions and its stock and budget burn."""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from analytics.campaign_measures import (
    FACT_HOURS,
    FACTS_TABLE,
    SINCE,
    Lift,
    Measures,
    campaign_measures,
    facts_boundary,
)
from analytics.models import CampaignFacts
from campaigns.models import Campaign
from campaigns.operator_time import operator_zone_name
from crm.core.replica import one_snapshot, reads_replica, report_cursor


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
    # The hourly facts the report read for the hours before facts_until (None: none).
    facts: CampaignFacts | None = None

    @property
    def facts_until(self) -> datetime | None:
        return facts_boundary(self.facts, self.as_of)


@reads_replica
def campaign_report(*, campaign: Campaign, as_of: datetime) -> CampaignReport:
    """The report of `campaign` as of `as_of` (SPEC §6), from one snapshot of the
    database."""
    with one_snapshot():
        return _report(campaign, as_of)


def _report(campaign: Campaign, as_of: datetime) -> CampaignReport:
    measures = campaign_measures(campaign_ids=[campaign.pk], as_of=as_of).campaigns[campaign.pk]
    params = {
        "campaign": campaign.pk,
        "as_of": as_of,
        "since": facts_boundary(measures.facts, as_of),
        "zone": operator_zone_name(),
    }
    with report_cursor() as cursor:
        series = _series(cursor, campaign, params)
        burn = _burn(cursor, campaign, params)
    return CampaignReport(
        campaign=campaign,
        as_of=as_of,
        total=measures.total,
        channels=measures.channels,
        series=series,
        burn=burn,
        lift=measures.lift,
        facts=measures.facts,
    )


def _series(cursor, campaign, params) -> list[Day]:
    """Claims and live redemptions per operator calendar day, from the window's first day
    to the last day up to `as_of` (days without any included); the hourly facts' gross
    redemptions less those reversed by as_of."""
    until = min(campaign.claim_ends_at, params["as_of"])
    if until < campaign.claim_starts_at:
        return []
    cursor.execute(
        f"""
        WITH days AS (
            SELECT generate_series((%(start)s AT TIME ZONE %(zone)s)::date,
                                   (%(until)s AT TIME ZONE %(zone)s)::date,
                                   interval '1 day')::date AS day
        ), facts AS (
            SELECT (hour AT TIME ZONE %(zone)s)::date AS day, sum(claimed) AS claimed,
                   sum(redeemed) AS redeemed
            FROM {FACTS_TABLE} WHERE campaign_id = %(campaign)s AND {FACT_HOURS}
            GROUP BY 1
        ), claims AS (
            SELECT (granted_at AT TIME ZONE %(zone)s)::date AS day, count(*) AS n
            FROM campaigns_grant WHERE campaign_id = %(campaign)s
              AND granted_at >= {SINCE} AND granted_at <= %(as_of)s
            GROUP BY 1
        ), redemptions AS (
            SELECT (r.redeemed_at AT TIME ZONE %(zone)s)::date AS day, count(*) AS n
            FROM campaigns_redemption r JOIN campaigns_coupon c ON c.id = r.coupon_id
            WHERE c.campaign_id = %(campaign)s
              AND r.redeemed_at >= {SINCE} AND r.redeemed_at <= %(as_of)s
            GROUP BY 1
        ), reversed AS (
            SELECT (r.redeemed_at AT TIME ZONE %(zone)s)::date AS day, count(*) AS n
            FROM campaigns_redemption r JOIN campaigns_coupon c ON c.id = r.coupon_id
            WHERE r.reversed_at IS NOT NULL AND r.reversed_at <= %(as_of)s
              AND c.campaign_id = %(campaign)s
            GROUP BY 1
        )
        SELECT d.day, (coalesce(f.claimed, 0) + coalesce(c.n, 0))::int,
               (coalesce(f.redeemed, 0) + coalesce(r.n, 0) - coalesce(v.n, 0))::int
        FROM days d LEFT JOIN facts f USING (day) LEFT JOIN claims c USING (day)
             LEFT JOIN redemptions r USING (day) LEFT JOIN reversed v USING (day)
        ORDER BY d.day
        """,
        {**params, "start": campaign.claim_starts_at, "until": until},
    )
    return [Day(day, claimed, redeemed) for day, claimed, redeemed in cursor.fetchall()]


def _burn(cursor, campaign, params) -> Burn:
    """Stock and budget against the coupons issued by `as_of` and their face value (what the
    engine counts against the budget); a coupon revoked by then was given back (the hourly
    facts count every coupon issued; the revoked ones are few)."""
    cursor.execute(
        f"""
        SELECT (SELECT coalesce(sum(burn_issued), 0) FROM {FACTS_TABLE}
                WHERE campaign_id = %(campaign)s AND channel_id IS NULL AND {FACT_HOURS})
             + (SELECT count(*) FROM campaigns_coupon WHERE campaign_id = %(campaign)s
                AND issued_at >= {SINCE} AND issued_at <= %(as_of)s)
             - (SELECT count(*) FROM campaigns_coupon WHERE campaign_id = %(campaign)s
                AND status = 'revoked' AND status_changed_at <= %(as_of)s
                AND issued_at <= %(as_of)s),
               (SELECT coalesce(sum(burn_face_value), 0) FROM {FACTS_TABLE}
                WHERE campaign_id = %(campaign)s AND channel_id IS NULL AND {FACT_HOURS})
             + (SELECT coalesce(sum(face_value), 0) FROM campaigns_coupon
                WHERE campaign_id = %(campaign)s
                AND issued_at >= {SINCE} AND issued_at <= %(as_of)s)
             - (SELECT coalesce(sum(face_value), 0) FROM campaigns_coupon
                WHERE campaign_id = %(campaign)s AND status = 'revoked'
                AND status_changed_at <= %(as_of)s AND issued_at <= %(as_of)s)
        """,
        params,
    )
    issued, spent = cursor.fetchone()
    return Burn(stock=campaign.stock, issued=issued, budget=campaign.budget, spent=spent)
