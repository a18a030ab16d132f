"""The customer base over a period (SPEC §6), optionally within a segment's members at the
period's end: the lifecycle distribution at each month's end and the flows between the
stages at the period's ends, the RFM grid, the AIPL funnel, monthly cohort retention, and
lifetime value by cohort and by segment.

Stages and RFM scores come from their one definition (crm.measures) at the moment asked,
never from stored columns or the stage history, so imported history has flows too.
Definitions (only paid orders count as purchases; "in the period": from the start of its
first day to the end of its last, operator time):
- stages at a month's end: the customers registered by then (or without a registration
  date) in each stage at the earlier of the next month's start and the period's end;
- RFM grid: the customers with a paid order by the period's end, by recency and frequency
  score, with their paid GMV in the period;
- AIPL, each customer at the highest step reached in the period: aware (a message sent or
  a grant), interested (a visit, favourite or add-to-cart event), purchased (a paid order),
  loyal (a paid order in the period and at least two by its end); a step counts everyone
  at it or above, and its conversion is its count over the step before;
- cohorts: customers by the month of their first paid order, for the months of the
  period; retention at month k: the share with a paid order in the k-th month after it;
  lifetime value at month k: their paid GMV from the first order to that month's end, per
  customer;
- LTV by segment: the first SEGMENTS_SHOWN saved segments by name, each one's members at
  the period's end and their paid GMV up to it per member (one membership query each).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from analytics.filters import Period
from campaigns.filters import start_of_local_day
from campaigns.operator_time import operator_zone_name
from crm import selectors as crm_selectors
from crm.core.replica import reads_replica, report_cursor
from crm.enums import EventKind, LifecycleStage
from crm.measures import Sql, rfm_at
from segments import selectors as segment_selectors
from segments.models import Segment
from segments.rules import RuleError

INTERESTED = (EventKind.VISIT, EventKind.FAVORITE, EventKind.ADD_TO_CART)
AIPL_STEPS = ("aware", "interested", "purchased", "loyal")
# LTV by segment lists this many saved segments, by name.
SEGMENTS_SHOWN = 20
CENTS = Decimal("0.01")


@dataclass(frozen=True)
class MonthStages:
    month: date
    at: datetime
    stages: dict[str, int]


@dataclass(frozen=True)
class Flow:
    from_stage: str
    to_stage: str
    customers: int


@dataclass(frozen=True)
class RfmCell:
    recency: int
    frequency: int
    customers: int
    revenue: Decimal


@dataclass(frozen=True)
class FunnelStep:
    step: str
    customers: int
    # customers / the previous step's (None for the first, or a previous step of 0).
    conversion: float | None


@dataclass(frozen=True)
class Cohort:
    month: date
    customers: int
    # Per month since the first order (0 = that month), up to the period's end.
    retention: list[float]
    ltv: list[Decimal]


@dataclass(frozen=True)
class SegmentValue:
    segment: Segment
    customers: int
    ltv: Decimal | None
    problem: str = ""


@dataclass(frozen=True)
class CustomerBase:
    period: Period
    as_of: datetime
    segment: Segment | None
    customers: int
    stages_by_month: list[MonthStages]
    flows: list[Flow]
    rfm: list[RfmCell]
    funnel: list[FunnelStep]
    cohorts: list[Cohort]
    segments: list[SegmentValue]


@reads_replica
def customer_base(*, period: Period, now: datetime, segment: Segment | None) -> CustomerBase:
    """The customer base over `period` (its end capped at `now`), within `segment`'s
    members at that end when given (raises RuleError when its rules no longer validate)."""
    start, end = period.starts_at, min(period.ends_at, now)
    within = _members(segment, end) if segment else Sql("SELECT id FROM crm_customer")
    with report_cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({within.text}) w", within.params)
        (customers,) = cursor.fetchone()
        stages = [_stages_at(cursor, month, at, within) for month, at in _month_ends(period, end)]
        rfm = _rfm(cursor, start, end, within)
        funnel = _funnel(cursor, start, end, within)
        cohorts = _cohorts(cursor, period, end, within)
    flows = crm_selectors.stage_flows(start=start, end=end, within=within)
    return CustomerBase(
        period=period,
        as_of=end,
        segment=segment,
        customers=customers,
        stages_by_month=stages,
        flows=[Flow(f.from_stage, f.to_stage, f.customers) for f in flows],
        rfm=rfm,
        funnel=funnel,
        cohorts=cohorts,
        segments=_segment_values(end),
    )


def _members(segment: Segment, at: datetime) -> Sql:
    members = segment_selectors.segment_members(segment=segment, as_of=at).values("pk")
    text, params = members.query.sql_with_params()
    return Sql(text, tuple(params))


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _months(first: date, last: date) -> list[date]:
    months, month = [], first.replace(day=1)
    while month <= last:
        months.append(month)
        month = _next_month(month)
    return months


def _month_ends(period: Period, end: datetime) -> list[tuple[date, datetime]]:
    """Each month of the period begun by `end`, with the moment its stages are read: the
    next month's start, or `end` (the period's end, or now) in the last one."""
    return [
        (month, min(start_of_local_day(_next_month(month)), end))
        for month in _months(period.first_day, period.last_day)
        if start_of_local_day(month) < end
    ]


def _stages_at(cursor, month: date, at: datetime, within: Sql) -> MonthStages:
    stages = crm_selectors.stages_at(at)
    cursor.execute(
        f"""
        SELECT coalesce(s.stage, 'potential'), count(*)
        FROM crm_customer c LEFT JOIN ({stages.text}) s ON s.customer_id = c.id
        WHERE c.id IN ({within.text})
          AND (c.registered_at IS NULL OR c.registered_at <= %s OR s.customer_id IS NOT NULL)
        GROUP BY 1
        """,
        (*stages.params, *within.params, at),
    )
    counts = dict(cursor.fetchall())
    return MonthStages(
        month, at, {stage.value: counts.get(stage.value, 0) for stage in LifecycleStage}
    )


def _rfm(cursor, start: datetime, end: datetime, within: Sql) -> list[RfmCell]:
    scores = rfm_at(as_of=end, scores="rfm")
    cursor.execute(
        f"""
        WITH scores AS ({scores.text}),
        spend AS (
            SELECT customer_id, sum(amount) AS gmv FROM crm_order
            WHERE status = 'paid' AND placed_at >= %s AND placed_at < %s GROUP BY customer_id
        )
        SELECT s.rfm_recency, s.rfm_frequency, count(*), coalesce(sum(p.gmv), 0)
        FROM scores s LEFT JOIN spend p USING (customer_id)
        WHERE s.customer_id IN ({within.text})
        GROUP BY 1, 2
        """,
        (*scores.params, start, end, *within.params),
    )
    found = {(r, f): (n, gmv) for r, f, n, gmv in cursor.fetchall()}
    return [
        RfmCell(r, f, *found.get((r, f), (0, Decimal("0.00"))))
        for r in range(5, 0, -1)
        for f in range(1, 6)
    ]


def _funnel(cursor, start: datetime, end: datetime, within: Sql) -> list[FunnelStep]:
    cursor.execute(
        f"""
        WITH scope AS ({within.text}),
        aware AS (
            SELECT customer_id FROM campaigns_message
            WHERE status = 'sent' AND sent_at >= %s AND sent_at < %s
            UNION
            SELECT customer_id FROM campaigns_grant WHERE granted_at >= %s AND granted_at < %s
        ), interested AS (
            SELECT DISTINCT customer_id FROM crm_behaviourevent
            WHERE kind = ANY(%s) AND occurred_at >= %s AND occurred_at < %s
        ), buyers AS (
            SELECT customer_id,
                   count(*) FILTER (WHERE placed_at >= %s) AS in_period,
                   count(*) AS by_end
            FROM crm_order WHERE status = 'paid' AND placed_at < %s
            GROUP BY customer_id HAVING count(*) FILTER (WHERE placed_at >= %s) > 0
        ), steps AS (
            SELECT c.id,
                   CASE WHEN b.by_end >= 2 THEN 4
                        WHEN b.customer_id IS NOT NULL THEN 3
                        WHEN i.customer_id IS NOT NULL THEN 2
                        WHEN a.customer_id IS NOT NULL THEN 1 ELSE 0 END AS step
            FROM crm_customer c
            LEFT JOIN aware a ON a.customer_id = c.id
            LEFT JOIN interested i ON i.customer_id = c.id
            LEFT JOIN buyers b ON b.customer_id = c.id
            WHERE c.id IN (SELECT * FROM scope)
        )
        SELECT count(*) FILTER (WHERE step >= 1), count(*) FILTER (WHERE step >= 2),
               count(*) FILTER (WHERE step >= 3), count(*) FILTER (WHERE step >= 4)
        FROM steps
        """,
        (
            *within.params,
            start,
            end,
            start,
            end,
            [str(kind) for kind in INTERESTED],
            start,
            end,
            start,
            end,
            start,
        ),
    )
    counts = cursor.fetchone()
    steps, previous = [], None
    for name, count in zip(AIPL_STEPS, counts, strict=True):
        conversion = None if not previous else count / previous
        steps.append(FunnelStep(name, count, conversion))
        previous = count
    return steps


def _cohorts(cursor, period: Period, end: datetime, within: Sql) -> list[Cohort]:
    """Retention and cumulative GMV per customer by month since the first paid order, for
    the cohorts of the period's months, up to the period's end (set-based: one statement)."""
    months = _months(period.first_day, period.last_day)
    zone = operator_zone_name()
    cursor.execute(
        f"""
        WITH paid AS (
            SELECT customer_id, amount,
                   date_trunc('month', placed_at AT TIME ZONE %s)::date AS month
            FROM crm_order
            WHERE status = 'paid' AND placed_at < %s AND customer_id IN ({within.text})
        ), firsts AS (
            SELECT customer_id, min(month) AS cohort FROM paid GROUP BY customer_id
        ), chosen AS (
            SELECT * FROM firsts WHERE cohort >= %s AND cohort <= %s
        ), activity AS (
            SELECT f.cohort, (extract(year FROM age(p.month, f.cohort)) * 12
                              + extract(month FROM age(p.month, f.cohort)))::int AS k,
                   count(DISTINCT p.customer_id) AS active, sum(p.amount) AS gmv
            FROM chosen f JOIN paid p USING (customer_id)
            GROUP BY 1, 2
        )
        SELECT c.cohort, c.size, a.k, a.active, a.gmv
        FROM (SELECT cohort, count(*) AS size FROM chosen GROUP BY cohort) c
        JOIN activity a USING (cohort)
        ORDER BY c.cohort, a.k
        """,
        (zone, end, *within.params, months[0], months[-1]),
    )
    rows: dict[date, tuple[int, dict[int, tuple[int, Decimal]]]] = {}
    for cohort, size, k, active, gmv in cursor.fetchall():
        rows.setdefault(cohort, (size, {}))[1][k] = (active, gmv)
    # The month of the period's last instant (its end is the next day's first).
    last_month = timezone.localtime(end - timedelta(microseconds=1)).date().replace(day=1)
    cohorts = []
    for month in months:
        if month not in rows:
            continue
        size, activity = rows[month]
        span = (last_month.year - month.year) * 12 + last_month.month - month.month + 1
        retention, ltv, total = [], [], Decimal(0)
        for k in range(span):
            active, gmv = activity.get(k, (0, Decimal(0)))
            retention.append(active / size)
            total += gmv
            ltv.append((total / size).quantize(CENTS))
        cohorts.append(Cohort(month, size, retention, ltv))
    return cohorts


def _segment_values(end: datetime) -> list[SegmentValue]:
    """The first SEGMENTS_SHOWN saved segments' members at `end` and their paid GMV up to
    it per member."""
    values = []
    for segment in Segment.objects.order_by("name")[:SEGMENTS_SHOWN]:
        try:
            members = _members(segment, end)
        except RuleError as error:
            values.append(SegmentValue(segment, 0, None, problem=str(error)))
            continue
        with report_cursor() as cursor:
            cursor.execute(
                f"""
                SELECT count(*), coalesce(sum(spent.gmv), 0)
                FROM ({members.text}) m(id)
                LEFT JOIN (SELECT customer_id, sum(amount) AS gmv FROM crm_order
                           WHERE status = 'paid' AND placed_at < %s GROUP BY customer_id)
                     spent ON spent.customer_id = m.id
                """,
                (*members.params, end),
            )
            count, gmv = cursor.fetchone()
        ltv = (Decimal(gmv) / count).quantize(CENTS) if count else None
        values.append(SegmentValue(segment, count, ltv))
    return values
