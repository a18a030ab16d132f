"""SPEC §6's measures of a set of campaigns as of a moment: per campaign and channel, per
campaign, per channel across the campaigns, and over all of them, each level in the same
set-based statements (a fixed number, whatever the number of campaigns).

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
  across campaigns, an order redeeming coupons of two campaigns counts once in a channel's
  roll-up and once over all;
- lift: treated vs holdout paid GMV per customer (every paid order of the audience placed
  from the window's start, before its end and at or before as_of), (treated - holdout) /
  holdout, with Welch's 95% interval on the difference of means divided by the holdout
  mean; incremental_gmv = (treated - holdout per customer) x treated; all three None
  under MIN_HOLDOUT. Lift is a campaign's: per channel and across campaigns it does not
  apply.
A rate or ratio whose denominator is 0 is None.
"""

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Max
from scipy.stats import t as student_t

from analytics.models import CampaignFacts, CampaignHourFact
from campaigns.models import Grant
from campaigns.operator_time import operator_zone_name
from crm.core.operator_calendar import start_of_local_hour
from crm.core.replica import one_snapshot, reads_replica, report_cursor, report_database

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
    # Not SPEC measures: what the rates are computed from.
    coupons_issued: int = 0
    orders: int = 0

    def finish(self) -> None:
        """The ratios, from the counts."""
        if self.audience is not None:
            self.claim_rate = _ratio(self.claimed, self.audience - self.holdout)
        self.redemption_rate = _ratio(self.redeemed, self.coupons_issued)
        self.roi = _ratio(self.gmv, self.cost)
        self.aov = (self.gmv / self.orders).quantize(CENTS) if self.orders else None


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
class CampaignMeasures:
    """One campaign's measures in total and per channel (its own channels first, in its
    order, with rows for channels without activity)."""

    total: Measures
    channels: dict[str, Measures]
    lift: Lift
    # The hourly facts read (for the hours before facts_boundary()), None when none were.
    facts: CampaignFacts | None = None


@dataclass
class MeasuresOfCampaigns:
    campaigns: dict[int, CampaignMeasures]
    # Across the campaigns: per channel and over all (audience summed; no lift).
    channels: dict[str, Measures] = field(default_factory=dict)
    total: Measures = field(default_factory=Measures)


@reads_replica
def campaign_measures(*, campaign_ids: list[int], as_of: datetime) -> MeasuresOfCampaigns:
    """SPEC §6's measures of the campaigns `campaign_ids` as of `as_of`, from one snapshot
    of the database."""
    with one_snapshot():
        return _measures(list(campaign_ids), as_of)


def _measures(ids: list[int], as_of: datetime) -> MeasuresOfCampaigns:
    facts = usable_facts(ids)
    result = MeasuresOfCampaigns(
        campaigns={
            pk: CampaignMeasures(
                total=Measures(audience=0, holdout=0),
                channels={code: Measures() for code in codes},
                lift=None,
                facts=facts.get(pk),
            )
            for pk, codes in _channel_codes(ids).items()
        }
    )
    rollup: dict[str, Measures] = defaultdict(Measures)
    total = result.total
    total.audience = total.holdout = 0
    # Gross redemptions (reversed ones too, each its order's amount) per campaign and
    # channel; exact once the orders _special_orders() names are set right.
    gross: dict[tuple[int, str], tuple[int, Decimal, Decimal]] = {}
    spend: dict[int, dict[bool, tuple[Decimal, Decimal]]] = defaultdict(dict)
    with report_cursor() as cursor:
        for since, group in _by_boundary(ids, facts, as_of).items():
            params = {"ids": group, "as_of": as_of, "since": since, "zone": operator_zone_name()}
            for pk, audience, holdout in _audience(cursor, params):
                _add((result.campaigns[pk].total, total), audience=audience, holdout=holdout)
            for pk, code, delivered, failed in _messages(cursor, params):
                rows = (_channel(result, pk, code), rollup[code], result.campaigns[pk].total, total)
                _add(rows, delivered=delivered, delivery_failed=failed)
            for pk, code, claimed, coupons in _grants(cursor, params):
                rows = (_channel(result, pk, code), rollup[code], result.campaigns[pk].total, total)
                _add(rows, claimed=claimed, coupons_issued=coupons)
            for pk, code, redeemed, cost, amounts in _redemptions(cursor, params):
                gross[pk, code] = (redeemed, cost, amounts)
            for pk, treated, spent, squares in _spend(cursor, params, facts):
                spend[pk][treated] = (spent, squares)
        corrections = {
            (level, pk, code): values
            for level, pk, code, *values in _special_orders(cursor, ids, as_of)
        }
    for (pk, code), values in gross.items():
        for row in (_channel(result, pk, code), result.campaigns[pk].total, rollup[code], total):
            _add_redemptions(row, values)
    for (level, pk, code), values in corrections.items():
        if level == 0:
            _correct(_channel(result, pk, code), values)
        elif level == 1:
            _correct(result.campaigns[pk].total, values)
        elif level == 2:
            _correct(rollup[code], values)
        else:
            _correct(total, values)
    for pk, measures in result.campaigns.items():
        row = measures.total
        measures.lift = _lift_from_sums(row.audience - row.holdout, row.holdout, spend[pk])
        row.lift, row.lift_ci = measures.lift.lift, measures.lift.ci
        row.incremental_gmv = measures.lift.incremental_gmv
        for each in [row, *measures.channels.values()]:
            each.finish()
    result.channels = dict(sorted(rollup.items()))
    for row in [total, *result.channels.values()]:
        row.finish()
    return result


def usable_facts(ids: list[int]) -> dict[int, CampaignFacts]:
    """The campaigns' hourly facts the reports can read: built over the claim window the
    campaign has now (the lift's spend is summed over it), and before none of its push
    grants moved to another channel (the facts hold the old one)."""
    facts = {
        facts.campaign_id: facts
        for facts in CampaignFacts.objects.using(report_database())
        .filter(campaign_id__in=ids)
        .select_related("campaign")
        if (facts.claim_starts_at, facts.claim_ends_at)
        == (facts.campaign.claim_starts_at, facts.campaign.claim_ends_at)
    }
    if not facts:
        return facts
    moved = dict(
        Grant.objects.using(report_database())
        .filter(campaign_id__in=facts, attributed_at__isnull=False)
        .values_list("campaign_id")
        .annotate(last=Max("attributed_at"))
    )
    return {
        pk: facts
        for pk, facts in facts.items()
        if pk not in moved or moved[pk] < facts.built_at - CHANGES_MARGIN
    }


def _orders_changed(cursor, params, built_at: datetime) -> set[int]:
    """The campaigns whose lift the facts cannot give: an audience member's order in the
    window before `since` was written after the build (a refund, an order imported with an
    old date), so the facts' sums hold what it was."""
    cursor.execute(
        """
        SELECT DISTINCT a.campaign_id FROM crm_order o
        JOIN campaigns_audiencemember a ON a.customer_id = o.customer_id
        JOIN campaigns_campaign c ON c.id = a.campaign_id
        WHERE a.campaign_id = ANY(%(ids)s) AND o.updated_at >= %(changed_since)s
          AND o.placed_at < %(since)s
          AND o.placed_at >= c.claim_starts_at AND o.placed_at < c.claim_ends_at
        """,
        {**params, "changed_since": built_at - CHANGES_MARGIN},
    )
    return {pk for (pk,) in cursor.fetchall()}


def facts_boundary(facts: CampaignFacts | None, as_of: datetime) -> datetime | None:
    """Where a report as of `as_of` stops reading `facts` and reads the rows themselves:
    the facts' end, or the start of `as_of`'s hour when earlier (a fact is a whole hour's);
    None without facts."""
    if facts is None:
        return None
    return min(facts.until, start_of_local_hour(as_of))


def _by_boundary(ids, facts, as_of) -> dict[datetime | None, list[int]]:
    groups: dict[datetime | None, list[int]] = defaultdict(list)
    for pk in ids:
        groups[facts_boundary(facts.get(pk), as_of)].append(pk)
    return groups


def _add(rows, **counts) -> None:
    """Add `counts` to the measures of each of `rows`."""
    for row in rows:
        for name, value in counts.items():
            setattr(row, name, getattr(row, name) + value)


def _add_redemptions(row: Measures, gross) -> None:
    """Add gross redemptions to `row`: one order per redemption, with its amount."""
    redeemed, cost, amounts = gross
    _add([row], redeemed=redeemed, cost=cost, gmv=amounts, orders=redeemed)


def _correct(row: Measures, correction) -> None:
    redeemed, cost, gmv, orders = correction
    _add([row], redeemed=redeemed, cost=cost, gmv=gmv, orders=orders)


def _channel(result: MeasuresOfCampaigns, pk: int, code: str) -> Measures:
    return result.campaigns[pk].channels.setdefault(code, Measures())


def _ratio(numerator, denominator) -> float | None:
    return float(numerator) / float(denominator) if denominator else None


def _channel_codes(ids: list[int]) -> dict[int, list[str]]:
    """Each campaign's channels in the campaign's order (rows for channels without activity
    too); channels a grant or message names beyond them are added after."""
    codes: dict[int, list[str]] = {pk: [] for pk in ids}
    with report_cursor() as cursor:
        cursor.execute(
            """
            SELECT cc.campaign_id, ch.code FROM campaigns_campaign_channels cc
            JOIN crm_channel ch ON ch.id = cc.channel_id
            WHERE cc.campaign_id = ANY(%s) ORDER BY cc.campaign_id, cc.id
            """,
            [ids],
        )
        for pk, code in cursor.fetchall():
            codes[pk].append(code)
    return codes


# Each measure sums its hourly facts before the boundary `since` (none without facts: NULL)
# and counts the rows themselves from it to as_of (all of them without facts).
FACT_HOURS = "hour < %(since)s::timestamptz"
SINCE = "coalesce(%(since)s::timestamptz, '-infinity')"
FACTS_TABLE = CampaignHourFact._meta.db_table
# A write is stamped with its clock before its transaction commits (an import's batch, a
# push's chunk), so one stamped shortly before a build may still be missing from it: such
# writes count as made after the build.
CHANGES_MARGIN = timedelta(minutes=10)


def _audience(cursor, params):
    cursor.execute(
        f"""
        SELECT campaign_id, sum(audience)::int, sum(holdout)::int FROM (
            SELECT campaign_id, audience, holdout FROM {FACTS_TABLE}
            WHERE campaign_id = ANY(%(ids)s) AND channel_id IS NULL AND {FACT_HOURS}
            UNION ALL
            SELECT campaign_id, count(*), count(*) FILTER (WHERE NOT treated)
            FROM campaigns_audiencemember
            WHERE campaign_id = ANY(%(ids)s) AND joined_at >= {SINCE} AND joined_at <= %(as_of)s
            GROUP BY campaign_id
        ) joined GROUP BY campaign_id
        """,
        params,
    )
    return cursor.fetchall()


def _messages(cursor, params):
    """Off-site messages sent and failed by as_of (each is one or the other, once)."""
    cursor.execute(
        f"""
        SELECT x.campaign_id, ch.code, sum(x.delivered)::int, sum(x.failed)::int FROM (
            SELECT campaign_id, channel_id, delivered, delivery_failed AS failed
            FROM {FACTS_TABLE}
            WHERE campaign_id = ANY(%(ids)s) AND {FACT_HOURS}
              AND (delivered > 0 OR delivery_failed > 0)
            UNION ALL
            SELECT campaign_id, channel_id,
                   count(*) FILTER (WHERE status = 'sent' AND sent_at <= %(as_of)s),
                   count(*) FILTER (WHERE status = 'failed' AND failed_at <= %(as_of)s)
            FROM campaigns_message
            WHERE campaign_id = ANY(%(ids)s) AND coalesce(sent_at, failed_at) >= {SINCE}
              AND coalesce(sent_at, failed_at) <= %(as_of)s
            GROUP BY campaign_id, channel_id
        ) x JOIN crm_channel ch ON ch.id = x.channel_id
        WHERE ch.kind = 'off_site'
        GROUP BY x.campaign_id, ch.code
        """,
        params,
    )
    return cursor.fetchall()


def _grants(cursor, params):
    """Per campaign and channel: grants made by `as_of` and the coupons they issued (each
    grant records its number: no join to a million coupons)."""
    cursor.execute(
        f"""
        SELECT x.campaign_id, ch.code, sum(x.claimed)::int, sum(x.coupons)::int FROM (
            SELECT campaign_id, channel_id, claimed, coupons_issued AS coupons
            FROM {FACTS_TABLE}
            WHERE campaign_id = ANY(%(ids)s) AND {FACT_HOURS} AND claimed > 0
            UNION ALL
            SELECT campaign_id, channel_id, count(*), sum(coupon_count)
            FROM campaigns_grant
            WHERE campaign_id = ANY(%(ids)s) AND granted_at >= {SINCE}
              AND granted_at <= %(as_of)s
            GROUP BY campaign_id, channel_id
        ) x JOIN crm_channel ch ON ch.id = x.channel_id
        GROUP BY x.campaign_id, ch.code
        """,
        params,
    )
    return cursor.fetchall()


def _redemptions(cursor, params):
    """Per campaign and channel, gross: redemptions made by as_of (reversed ones too), their
    discounts and the order amounts they recorded."""
    cursor.execute(
        f"""
        SELECT x.campaign_id, ch.code, sum(x.redeemed)::int, sum(x.cost), sum(x.amounts)
        FROM (
            SELECT campaign_id, channel_id, redeemed, cost, order_amounts AS amounts
            FROM {FACTS_TABLE}
            WHERE campaign_id = ANY(%(ids)s) AND {FACT_HOURS} AND redeemed > 0
            UNION ALL
            SELECT c.campaign_id, g.channel_id, count(*), sum(r.discount), sum(r.order_amount)
            FROM campaigns_redemption r
            JOIN campaigns_coupon c ON c.id = r.coupon_id
            JOIN campaigns_grant g ON g.id = c.grant_id
            WHERE c.campaign_id = ANY(%(ids)s) AND r.redeemed_at >= {SINCE}
              AND r.redeemed_at <= %(as_of)s
            GROUP BY c.campaign_id, g.channel_id
        ) x JOIN crm_channel ch ON ch.id = x.channel_id
        GROUP BY x.campaign_id, ch.code
        """,
        params,
    )
    return cursor.fetchall()


def _special_orders(cursor, ids, as_of):
    """What the gross counts get wrong, from the orders they can get wrong: those with a
    reversed redemption or more than one (an order is counted once per group, and a
    reversed redemption by as_of not at all); every other order has one live redemption,
    counted right. Per group at four levels (0 campaign and channel, 1 campaign, 2 channel
    across the campaigns, 3 over all): the change to redeemed, cost, gmv and orders."""
    cursor.execute(
        """
        WITH special AS (
            SELECT order_id FROM campaigns_redemption WHERE redeemed_at <= %(as_of)s
            GROUP BY order_id HAVING count(*) > 1 OR bool_or(reversed_at IS NOT NULL)
        ), made AS (
            SELECT c.campaign_id, ch.code AS channel, r.order_id, r.order_amount, r.discount,
                   (r.reversed_at IS NULL OR r.reversed_at > %(as_of)s) AS live
            FROM special s
            JOIN campaigns_redemption r ON r.order_id = s.order_id
            JOIN campaigns_coupon c ON c.id = r.coupon_id
            JOIN campaigns_grant g ON g.id = c.grant_id
            JOIN crm_channel ch ON ch.id = g.channel_id
            WHERE c.campaign_id = ANY(%(ids)s) AND r.redeemed_at <= %(as_of)s
        ), per_order AS (
            SELECT grouping(campaign_id, channel) AS level, campaign_id, channel,
                   count(*) AS made, sum(discount) AS made_cost,
                   sum(order_amount) AS made_amounts,
                   count(*) FILTER (WHERE live) AS live,
                   coalesce(sum(discount) FILTER (WHERE live), 0) AS live_cost,
                   max(order_amount) FILTER (WHERE live) AS live_amount
            FROM made
            GROUP BY GROUPING SETS ((campaign_id, channel, order_id), (campaign_id, order_id),
                                    (channel, order_id), (order_id))
        )
        SELECT level, campaign_id, channel, (sum(live) - sum(made))::int,
               sum(live_cost) - sum(made_cost),
               coalesce(sum(live_amount), 0) - sum(made_amounts),
               (count(live_amount) - sum(made))::int
        FROM per_order GROUP BY level, campaign_id, channel
        """,
        {"ids": ids, "as_of": as_of},
    )
    return cursor.fetchall()


def _spend(cursor, params, facts: dict[int, CampaignFacts]):
    """Lift's sums over each campaign's audience by as_of, treated and held out: of each
    member's paid GMV from its window's start, before its end, at or before as_of, and of
    its square. With facts, they hold the sums for the hours before `since`; after it, a
    member who joined since counts whole, and one who spent since changes from what it had
    spent before `since` (looked up by customer: they are the hour's buyers, not the
    audience). Without facts, or when an order they counted changed since their build,
    every member's whole."""
    ids = params["ids"]
    whole = ids
    if params["since"] is not None:
        changed = _orders_changed(cursor, params, min(facts[pk].built_at for pk in ids))
        whole = [pk for pk in ids if pk in changed]
    rows = []
    if whole:
        cursor.execute(_SPEND_OF_EVERY_MEMBER, {**params, "ids": whole})
        rows += cursor.fetchall()
    if len(whole) < len(ids):
        since_facts = [pk for pk in ids if pk not in whole]
        cursor.execute(_SPEND_SINCE, {**params, "ids": since_facts})
        rows += cursor.fetchall()
    return rows


# Orders are summed per customer once per distinct window, then joined to the audience:
# joining each member to its orders first took 3.6 s at 1M members and 1.3M orders in the
# window against about 1.5 s this way (bench_reports).
_SPEND_OF_EVERY_MEMBER = """
    WITH chosen AS (
        SELECT id, claim_starts_at AS start, claim_ends_at AS until
        FROM campaigns_campaign WHERE id = ANY(%(ids)s)
    ), windows AS (
        SELECT DISTINCT start, until FROM chosen
    ), spend AS (
        -- The window's end is open; as_of is included, as everywhere ("at or before").
        SELECT w.start, w.until, o.customer_id, sum(o.amount) AS gmv
        FROM windows w JOIN crm_order o ON o.status = 'paid'
             AND o.placed_at >= w.start AND o.placed_at < w.until
             AND o.placed_at <= %(as_of)s
        GROUP BY 1, 2, 3
    )
    SELECT a.campaign_id, a.treated, coalesce(sum(s.gmv), 0),
           coalesce(sum(s.gmv * s.gmv), 0)
    FROM campaigns_audiencemember a
    JOIN chosen c ON c.id = a.campaign_id
    LEFT JOIN spend s ON s.start = c.start AND s.until = c.until
         AND s.customer_id = a.customer_id
    WHERE a.campaign_id = ANY(%(ids)s) AND a.joined_at <= %(as_of)s
    GROUP BY a.campaign_id, a.treated
"""
_SPEND_SINCE = f"""
    WITH chosen AS (
        SELECT id AS campaign_id, claim_starts_at AS starts_at, claim_ends_at AS ends_at
        FROM campaigns_campaign WHERE id = ANY(%(ids)s)
    ), recent AS (
        -- Paid orders since the boundary, each campaign's window's.
        SELECT w.campaign_id, o.customer_id, sum(o.amount) AS amount
        FROM crm_order o JOIN chosen w ON o.placed_at >= w.starts_at
             AND o.placed_at < w.ends_at
        WHERE o.placed_at >= {SINCE} AND o.placed_at <= %(as_of)s AND o.status = 'paid'
        GROUP BY 1, 2
    ), movers AS (
        SELECT a.campaign_id, a.customer_id, a.treated, a.joined_at < {SINCE} AS counted,
               coalesce(r.amount, 0) AS recent
        FROM campaigns_audiencemember a
        LEFT JOIN recent r ON r.campaign_id = a.campaign_id AND r.customer_id = a.customer_id
        WHERE a.campaign_id = ANY(%(ids)s) AND a.joined_at >= {SINCE}
          AND a.joined_at <= %(as_of)s
        UNION ALL
        SELECT a.campaign_id, a.customer_id, a.treated, true, r.amount
        FROM recent r JOIN campaigns_audiencemember a ON a.campaign_id = r.campaign_id
             AND a.customer_id = r.customer_id AND a.joined_at < {SINCE}
    ), changes AS (
        SELECT m.campaign_id, m.treated, m.counted, m.recent,
               (SELECT coalesce(sum(o.amount), 0) FROM crm_order o
                WHERE o.customer_id = m.customer_id AND o.status = 'paid'
                  AND o.placed_at >= w.starts_at AND o.placed_at < w.ends_at
                  AND o.placed_at < {SINCE}) AS before
        FROM movers m JOIN chosen w ON w.campaign_id = m.campaign_id
    )
    SELECT campaign_id, treated, sum(total), sum(squares) FROM (
        SELECT campaign_id, true AS treated, treated_spend AS total,
               treated_spend_squares AS squares
        FROM {FACTS_TABLE}
        WHERE campaign_id = ANY(%(ids)s) AND channel_id IS NULL AND {FACT_HOURS}
        UNION ALL
        SELECT campaign_id, false, holdout_spend, holdout_spend_squares
        FROM {FACTS_TABLE}
        WHERE campaign_id = ANY(%(ids)s) AND channel_id IS NULL AND {FACT_HOURS}
        UNION ALL
        -- One counted in the facts moves from before to before + recent; one who joined
        -- since enters with before + recent.
        SELECT campaign_id, treated,
               sum(CASE WHEN counted THEN recent ELSE before + recent END),
               sum((before + recent) * (before + recent)
                   - CASE WHEN counted THEN before * before ELSE 0 END)
        FROM changes GROUP BY campaign_id, treated
    ) sums GROUP BY campaign_id, treated
"""


def _lift_from_sums(n_t: int, n_h: int, sums: dict[bool, tuple[Decimal, Decimal]]) -> Lift:
    """SPEC §6's lift from each side's count, sum and sum of squares (the sample variance
    is (squares - total² / n) / (n - 1), exact in decimals)."""
    sides = []
    for n, treated in ((n_t, True), (n_h, False)):
        total, squares = sums.get(treated, (Decimal(0), Decimal(0)))
        mean = Decimal(total) / n if n else Decimal(0)
        variance = (Decimal(squares) - Decimal(total) ** 2 / n) / (n - 1) if n > 1 else 0
        sides += [n, mean, Decimal(variance)]
    return _lift_of(*sides)


def _lift_of(n_t, mean_t, var_t, n_h, mean_h, var_h) -> Lift:
    means = {
        "treated_mean": Decimal(mean_t).quantize(CENTS),
        "holdout_mean": Decimal(mean_h).quantize(CENTS),
    }
    missing = {"lift": None, "ci": None, "incremental_gmv": None}
    if n_h < MIN_HOLDOUT:
        why = f"The holdout has {n_h} customers; lift needs at least {MIN_HOLDOUT}."
        return Lift(n_t, n_h, **means, **missing, missing=why)
    if n_t == 0:
        return Lift(n_t, n_h, **means, **missing, missing="No treated customers.")
    difference = Decimal(mean_t) - Decimal(mean_h)
    incremental = (difference * n_t).quantize(CENTS)
    if mean_h == 0:
        why = "The holdout spent nothing in the window: lift has no base."
        return Lift(n_t, n_h, **means, lift=None, ci=None, incremental_gmv=incremental, missing=why)
    return Lift(
        n_t,
        n_h,
        **means,
        lift=float(difference / Decimal(mean_h)),
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
