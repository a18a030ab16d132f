"""Campaign activity for the home dashboard: grants, redemptions, discount cost and the GMV
of redeeming orders in the last days against the days before, the campaigns running, and
the campaigns that returned the most in the last days.

A redemption counts when it is live as of `as_of` (a refund since reverses it); an order
redeeming several coupons counts once in a window's GMV, and once per campaign in the top
list."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from campaigns.enums import CampaignStatus
from campaigns.models import Campaign
from crm.core.replica import reads_replica, report_cursor

TOP_CAMPAIGNS = 5


@dataclass(frozen=True)
class Activity:
    grants: int
    redemptions: int
    cost: Decimal
    gmv: Decimal


@dataclass(frozen=True)
class TopCampaign:
    campaign: Campaign
    redemptions: int
    gmv: Decimal


@dataclass(frozen=True)
class CampaignActivity:
    as_of: datetime
    days: int
    current: Activity
    previous: Activity
    running: int
    top: list[TopCampaign]


@reads_replica
def campaign_activity(*, as_of: datetime, days: int) -> CampaignActivity:
    """Activity in (as_of - days, as_of] and in the `days` before."""
    since, before = as_of - timedelta(days=days), as_of - timedelta(days=2 * days)
    params = {"as_of": as_of, "since": since, "before": before}
    with report_cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FILTER (WHERE granted_at > %(since)s),
                   count(*) FILTER (WHERE granted_at <= %(since)s)
            FROM campaigns_grant WHERE granted_at > %(before)s AND granted_at <= %(as_of)s
            """,
            params,
        )
        grants = cursor.fetchone()
        cursor.execute(
            """
            WITH live AS (
                SELECT (r.redeemed_at > %(since)s) AS current, c.campaign_id, r.order_id,
                       r.order_amount, r.discount
                FROM campaigns_redemption r JOIN campaigns_coupon c ON c.id = r.coupon_id
                WHERE r.redeemed_at > %(before)s AND r.redeemed_at <= %(as_of)s
                  AND (r.reversed_at IS NULL OR r.reversed_at > %(as_of)s)
            ), orders AS (
                SELECT current, order_id, max(order_amount) AS amount
                FROM live GROUP BY current, order_id
            )
            SELECT w.current, count(l.order_id), coalesce(sum(l.discount), 0),
                   (SELECT coalesce(sum(amount), 0) FROM orders o WHERE o.current = w.current)
            FROM (VALUES (true), (false)) w(current)
            LEFT JOIN live l ON l.current = w.current
            GROUP BY w.current
            """,
            params,
        )
        redemptions = {current: row for current, *row in cursor.fetchall()}
        cursor.execute(
            """
            SELECT campaign_id, sum(count)::int, sum(amount) FROM (
                SELECT c.campaign_id, r.order_id, count(*) AS count,
                       max(r.order_amount) AS amount
                FROM campaigns_redemption r JOIN campaigns_coupon c ON c.id = r.coupon_id
                WHERE r.redeemed_at > %(since)s AND r.redeemed_at <= %(as_of)s
                  AND (r.reversed_at IS NULL OR r.reversed_at > %(as_of)s)
                GROUP BY c.campaign_id, r.order_id
            ) per_order
            GROUP BY campaign_id ORDER BY sum(amount) DESC, campaign_id LIMIT %(top)s
            """,
            {**params, "top": TOP_CAMPAIGNS},
        )
        top = cursor.fetchall()
    campaigns = Campaign.objects.in_bulk([pk for pk, *_ in top])
    return CampaignActivity(
        as_of=as_of,
        days=days,
        current=Activity(grants[0], *redemptions[True]),
        previous=Activity(grants[1], *redemptions[False]),
        running=Campaign.objects.filter(status=CampaignStatus.RUNNING).count(),
        top=[TopCampaign(campaigns[pk], n, gmv) for pk, n, gmv in top],
    )
