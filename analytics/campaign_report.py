"""The campaign report (SPEC §6): what a campaign returned, per channel and in total, as of
a moment, in a fixed number of set-based statements.

Definitions, as SPEC §6 gives them (as of `as_of`; a redemption reversed by then, which is
what a refund does, does not count):
- audience / holdout: the campaign's audience record (members joined by `as_of`), and
  those of them held out; treated = audience - holdout;
- delivered / delivery_failed: off-site messages sent / failed by `as_of`;
- claimed: grants made by `as_of`; claim_rate = claimed / treated;
- redeemed: live redemptions of the campaign's coupons; redemption_rate = redeemed /
  coupons issued;
- gmv: the order amounts those redemptions recorded, each order once; cost: their
  discounts; roi = gmv / cost; aov = gmv / those orders;
- per channel, a grant, its coupons, their redemptions and orders belong to the grant's
  channel (an order redeeming coupons of two channels counts once in each, once in total);
- lift: treated vs holdout paid GMV per customer (every paid order of the audience in the
  window's start .. min(end, as_of)), (treated - holdout) / holdout, with Welch's 95%
  interval on the difference of means divided by the holdout mean; incremental_gmv =
  (treated - holdout per customer) x treated; all three None under MIN_HOLDOUT.
A rate or ratio whose denominator is 0 is None.
"""

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db import connection
from scipy.stats import t as student_t

from campaigns.models import Campaign
from campaigns.operator_time import operator_zone_name

# SPEC §6: with fewer holdout customers, lift and its interval are not shown.
MIN_HOLDOUT = 30
CENTS = Decimal("0.01")


@dataclass
class Measures:
    """SPEC §5's measures; None where a denominator is 0 or (per channel) it does not
    apply."""

    audience: int | None = None
    holdout: int | None = None
    delivered: int = 0
    delivery_failed: int = 0
    claimed: int = 0
    claim_rate: float | None = None
    redeemed: int = 0
    redemption_rate: float | None = None
    gmv: Decimal = Decimal("0.00")
    cost: Decimal = Decimal("0.00")
    roi: float | None = None
    aov: Decimal | None = None
    incremental_gmv: Decimal | None = None
    lift: float | None = None
    lift_ci: tuple[float, float] | None = None
    # Not a SPEC measure: what the rates are computed from.
    coupons_issued: int = 0
    orders: int = 0

    def finish(self) -> None:
        """The ratios, from the counts."""
        self.redemption_rate = _ratio(self.redeemed, self.coupons_issued)
        self.roi = _ratio(self.gmv, self.cost)
        self.aov = (self.gmv / self.orders).quantize(CENTS) if self.orders else None


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


@dataclass(frozen=True)
class Lift:
    """Paid GMV per customer in the window, treated against holdout."""

    treated: int
    holdout: int
    treated_mean: Decimal
    holdout_mean: Decimal
    lift: float | None
    ci: tuple[float, float] | None
    incremental_gmv: Decimal | None
    # Why there is no number, for the page.
    missing: str = ""


@dataclass
class CampaignReport:
    campaign: Campaign
    as_of: datetime
    total: Measures
    channels: dict[str, Measures]
    series: list[Day]
    burn: Burn
    lift: Lift = field(repr=False, default=None)


def campaign_report(*, campaign: Campaign, as_of: datetime) -> CampaignReport:
    """The report of `campaign` as of `as_of` (SPEC §6)."""
    channels = {code: Measures() for code in _channel_codes(campaign)}
    total = Measures()
    with connection.cursor() as cursor:
        audience, holdout = _audience(cursor, campaign, as_of)
        total.audience, total.holdout = audience, holdout
        for code, delivered, failed in _messages(cursor, campaign, as_of):
            row = channels.setdefault(code, Measures())
            row.delivered, row.delivery_failed = delivered, failed
            total.delivered += delivered
            total.delivery_failed += failed
        for code, claimed, coupons in _grants(cursor, campaign, as_of):
            row = channels.setdefault(code, Measures())
            row.claimed, row.coupons_issued = claimed, coupons
            total.claimed += claimed
            total.coupons_issued += coupons
        for code, redeemed, cost, gmv, orders in _redemptions(cursor, campaign, as_of):
            row = total if code is None else channels.setdefault(code, Measures())
            row.redeemed, row.cost, row.gmv, row.orders = redeemed, cost, gmv, orders
        lift = _lift(cursor, campaign, as_of)
        series = _series(cursor, campaign, as_of)
        burn = _burn(cursor, campaign, as_of)
    total.claim_rate = _ratio(total.claimed, audience - holdout)
    total.lift, total.lift_ci, total.incremental_gmv = lift.lift, lift.ci, lift.incremental_gmv
    for row in [total, *channels.values()]:
        row.finish()
    return CampaignReport(
        campaign=campaign,
        as_of=as_of,
        total=total,
        channels=channels,
        series=series,
        burn=burn,
        lift=lift,
    )


def _ratio(numerator, denominator) -> float | None:
    return float(numerator) / float(denominator) if denominator else None


def _channel_codes(campaign: Campaign) -> list[str]:
    """The campaign's channels in the campaign's order (rows for channels without activity
    too); channels a grant or message names beyond them are added after."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT ch.code FROM campaigns_campaign_channels cc
            JOIN crm_channel ch ON ch.id = cc.channel_id
            WHERE cc.campaign_id = %s ORDER BY cc.id
            """,
            [campaign.pk],
        )
        return [code for (code,) in cursor.fetchall()]


def _audience(cursor, campaign, as_of) -> tuple[int, int]:
    cursor.execute(
        """
        SELECT count(*), count(*) FILTER (WHERE NOT treated)
        FROM campaigns_audiencemember WHERE campaign_id = %s AND joined_at <= %s
        """,
        [campaign.pk, as_of],
    )
    return cursor.fetchone()


def _messages(cursor, campaign, as_of):
    cursor.execute(
        """
        SELECT ch.code,
               count(*) FILTER (WHERE m.status = 'sent' AND m.sent_at <= %(as_of)s),
               count(*) FILTER (WHERE m.status = 'failed' AND m.failed_at <= %(as_of)s)
        FROM campaigns_message m JOIN crm_channel ch ON ch.id = m.channel_id
        WHERE m.campaign_id = %(campaign)s AND ch.kind = 'off_site'
        GROUP BY ch.code
        """,
        {"campaign": campaign.pk, "as_of": as_of},
    )
    return cursor.fetchall()


def _grants(cursor, campaign, as_of):
    """Per channel: grants made by `as_of` and the coupons they issued."""
    cursor.execute(
        """
        SELECT ch.code, count(DISTINCT g.id), count(c.id)
        FROM campaigns_grant g
        JOIN crm_channel ch ON ch.id = g.channel_id
        LEFT JOIN campaigns_coupon c ON c.grant_id = g.id
        WHERE g.campaign_id = %s AND g.granted_at <= %s
        GROUP BY ch.code
        """,
        [campaign.pk, as_of],
    )
    return cursor.fetchall()


def _redemptions(cursor, campaign, as_of):
    """Per channel and in total (code None): live redemptions, their discounts, and the
    amounts and number of their orders, each order once."""
    cursor.execute(
        """
        WITH live AS (
            SELECT ch.code AS channel, r.order_id, r.order_amount, r.discount
            FROM campaigns_redemption r
            JOIN campaigns_coupon c ON c.id = r.coupon_id
            JOIN campaigns_grant g ON g.id = c.grant_id
            JOIN crm_channel ch ON ch.id = g.channel_id
            WHERE c.campaign_id = %(campaign)s AND r.redeemed_at <= %(as_of)s
              AND (r.reversed_at IS NULL OR r.reversed_at > %(as_of)s)
        ), redemptions AS (
            SELECT channel, count(*) AS redeemed, coalesce(sum(discount), 0) AS cost
            FROM live GROUP BY GROUPING SETS ((channel), ())
        ), orders AS (
            SELECT channel, sum(amount) AS gmv, count(*) AS orders
            FROM (SELECT channel, order_id, max(order_amount) AS amount
                  FROM live GROUP BY channel, order_id) per_channel
            GROUP BY channel
            UNION ALL
            SELECT NULL, coalesce(sum(amount), 0), count(*)
            FROM (SELECT order_id, max(order_amount) AS amount
                  FROM live GROUP BY order_id) per_order
        )
        SELECT r.channel, r.redeemed, r.cost, o.gmv, o.orders
        FROM redemptions r JOIN orders o ON o.channel IS NOT DISTINCT FROM r.channel
        """,
        {"campaign": campaign.pk, "as_of": as_of},
    )
    return cursor.fetchall()


def _lift(cursor, campaign, as_of) -> Lift:
    """SPEC §6's lift: per-customer paid GMV of treated and holdout audience members from
    the window's start to the earlier of its end and `as_of`."""
    until = min(campaign.claim_ends_at, as_of)
    cursor.execute(
        """
        WITH members AS (
            SELECT customer_id, treated FROM campaigns_audiencemember
            WHERE campaign_id = %(campaign)s AND joined_at <= %(as_of)s
        ), spend AS (
            SELECT m.treated, coalesce(sum(o.amount), 0) AS gmv
            FROM members m
            LEFT JOIN crm_order o ON o.customer_id = m.customer_id AND o.status = 'paid'
                 AND o.placed_at >= %(start)s AND o.placed_at < %(until)s
            GROUP BY m.customer_id, m.treated
        )
        SELECT treated, count(*), avg(gmv), coalesce(var_samp(gmv), 0)
        FROM spend GROUP BY treated
        """,
        {
            "campaign": campaign.pk,
            "as_of": as_of,
            "start": campaign.claim_starts_at,
            "until": until,
        },
    )
    groups = {treated: (n, mean, variance) for treated, n, mean, variance in cursor.fetchall()}
    n_t, mean_t, var_t = groups.get(True, (0, Decimal(0), Decimal(0)))
    n_h, mean_h, var_h = groups.get(False, (0, Decimal(0), Decimal(0)))
    means = {
        "treated_mean": Decimal(mean_t).quantize(CENTS),
        "holdout_mean": Decimal(mean_h).quantize(CENTS),
    }
    if n_h < MIN_HOLDOUT:
        missing = f"The holdout has {n_h} customers; lift needs at least {MIN_HOLDOUT}."
        return Lift(n_t, n_h, **means, lift=None, ci=None, incremental_gmv=None, missing=missing)
    if n_t == 0:
        return Lift(
            n_t,
            n_h,
            **means,
            lift=None,
            ci=None,
            incremental_gmv=None,
            missing="No treated customers.",
        )
    difference = Decimal(mean_t) - Decimal(mean_h)
    incremental = (difference * n_t).quantize(CENTS)
    if mean_h == 0:
        missing = "The holdout spent nothing in the window: lift has no base."
        return Lift(
            n_t, n_h, **means, lift=None, ci=None, incremental_gmv=incremental, missing=missing
        )
    lift = float(difference / Decimal(mean_h))
    return Lift(
        n_t,
        n_h,
        **means,
        lift=lift,
        ci=welch_interval(n_t, float(mean_t), float(var_t), n_h, float(mean_h), float(var_h)),
        incremental_gmv=incremental,
    )


def welch_interval(n_t, mean_t, var_t, n_h, mean_h, var_h) -> tuple[float, float] | None:
    """Welch's 95% interval on mean_t - mean_h, divided by mean_h (None with one treated
    customer: no variance)."""
    if n_t < 2:
        return None
    a, b = var_t / n_t, var_h / n_h
    se = math.sqrt(a + b)
    difference = mean_t - mean_h
    if se == 0:
        return (difference / mean_h, difference / mean_h)
    df = (a + b) ** 2 / (a**2 / (n_t - 1) + b**2 / (n_h - 1))
    margin = float(student_t.ppf(0.975, df)) * se
    return ((difference - margin) / mean_h, (difference + margin) / mean_h)


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
