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

The whole base over whole months of the last year is read from the latest monthly facts
(analytics.services.customer_base_facts) when they cover the period: as of their build
when the period runs past it (the page says how fresh they are). A segment, or a period
they do not cover, is computed from the orders on each view.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from analytics.exceptions import CustomerBaseTimedOut
from analytics.filters import Period
from analytics.models import CustomerBaseFacts, CustomerBaseSnapshot
from campaigns.operator_time import operator_zone_name
from crm import selectors as crm_selectors
from crm.core.models import Job, JobStatus
from crm.core.operator_calendar import add_months, months_apart, months_from, start_of_local_day
from crm.core.replica import reads_replica, report_cursor
from crm.core.time_limit import query_time_limit
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
# The Job kinds of a monthly facts build and of a background computation (a snapshot).
FACTS_JOB_KIND = "customer_base_facts"
SNAPSHOT_JOB_KIND = "customer_base_snapshot"
# A background job still unfinished this long after it was asked for lost its worker (a
# facts build at 1M customers and 10M orders takes about 4 minutes).
LOST_AFTER = timedelta(hours=3)
# Facts read for a period running to now are stale past this age (built nightly).
FRESH_FOR = timedelta(hours=26)


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
    # The monthly facts the numbers come from (None: computed from the orders now), and
    # whether the period runs past facts older than FRESH_FOR (the nightly build failed).
    facts: CustomerBaseFacts | None = None
    facts_stale: bool = False
    # The background computation the numbers come from (None: not one).
    snapshot: CustomerBaseSnapshot | None = None

    @property
    def computed_in_background(self) -> bool:
        return self.snapshot is not None


@reads_replica
def customer_base(
    *, period: Period, now: datetime, segment: Segment | None, limited: bool = True
) -> CustomerBase:
    """The customer base over `period` (its end capped at `now`), within `segment`'s
    members at that end when given (raises RuleError when its rules no longer validate).
    From the monthly facts when they answer, or from a background computation of the same
    (a snapshot, for FRESH_FOR after it was computed); else computed from the
    orders within REPORT_TIME_LIMIT_SECONDS in all (raises CustomerBaseTimedOut past it),
    or without a limit when not `limited` (the background computation itself)."""
    start, end = period.starts_at, min(period.ends_at, now)
    facts = CustomerBaseFacts.objects.order_by("-as_of", "-pk").first() if not segment else None
    # A background computation before facts built before it: there is one only because the
    # rest was too slow (such as the facts' LTV by segment at a past period's end).
    snapshot = _snapshot_of(period, segment, now=now) if limited else None
    if snapshot and not (facts and facts.as_of >= snapshot.job.started_at):
        return _decoded_base(snapshot, period, segment)
    if facts is not None:
        base = _from_facts(facts, period, start, end, now=now, limited=limited)
        if base:
            return base
    within = _members(segment, end) if segment else Sql("SELECT id FROM crm_customer")
    with _time_limit(limited) as next_step, report_cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({within.text}) w", within.params)
        (customers,) = cursor.fetchone()
        stages = []
        for month, at in _month_ends(period, end):
            next_step()
            stages.append(_stages_at(cursor, month, at, within))
        next_step()
        rfm = _rfm(cursor, start, end, within)
        next_step()
        funnel = _funnel(cursor, start, end, within)
        next_step()
        cohorts = _cohorts(cursor, period, end, within)
        next_step()
        flows = crm_selectors.stage_flows(start=start, end=end, within=within)
        segments = segment_values(end, next_step=next_step)
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
        segments=segments,
    )


@dataclass(frozen=True)
class CustomerBaseOnPage:
    """What the page shows for a period and segment: the customer base; or its background
    computation under way, when nothing is computed here meanwhile; or why computing it
    here was stopped."""

    base: CustomerBase | None = None
    computing: Job | None = None
    timed_out: CustomerBaseTimedOut | None = None


def customer_base_for_page(
    *, period: Period, segment: Segment | None, now: datetime
) -> CustomerBaseOnPage:
    """The customer base the page shows (customer_base, unless a background computation of
    the same is under way); RuleError when the segment's rules no longer work."""
    computing = snapshot_in_progress(period=period, segment=segment, now=now)
    if computing is not None:
        return CustomerBaseOnPage(computing=computing)
    try:
        return CustomerBaseOnPage(base=customer_base(period=period, now=now, segment=segment))
    except CustomerBaseTimedOut as stopped:
        return CustomerBaseOnPage(timed_out=stopped)


def snapshot_in_progress(*, period: Period, segment: Segment | None, now: datetime) -> Job | None:
    """The unfinished background computation of this period and segment, if any (one
    asked for over LOST_AFTER ago lost its worker and does not count)."""
    snapshot = (
        _snapshots_of(period, segment)
        .filter(
            job__status__in=(JobStatus.PENDING, JobStatus.RUNNING),
            job__created_at__gt=now - LOST_AFTER,
        )
        .select_related("job")
        .order_by("-job__created_at")
        .first()
    )
    return snapshot.job if snapshot else None


def snapshot_query(job: Job) -> str:
    """The customer base page's query (period and segment) of a background computation."""
    snapshot = CustomerBaseSnapshot.objects.get(job=job)
    query = {"first_day": snapshot.first_day, "last_day": snapshot.last_day}
    if snapshot.segment_id is not None:
        query["segment"] = snapshot.segment_id
    return urlencode(query)


def snapshot_jobs() -> QuerySet[Job]:
    """Every background computation's job."""
    return Job.objects.filter(kind=SNAPSHOT_JOB_KIND)


def snapshots() -> QuerySet[CustomerBaseSnapshot]:
    """Every background computation, with its job."""
    return CustomerBaseSnapshot.objects.select_related("job")


def _snapshot_of(
    period: Period, segment: Segment | None, *, now: datetime
) -> CustomerBaseSnapshot | None:
    """The latest computed snapshot of this period and segment, if it was computed within
    FRESH_FOR of `now`: past periods too, since history imported later changes them."""
    return (
        _snapshots_of(period, segment)
        .filter(job__started_at__gte=now - FRESH_FOR)
        .exclude(data=None)
        .select_related("job")
        .order_by("-job__started_at", "-pk")
        .first()
    )


def _snapshots_of(period: Period, segment: Segment | None) -> QuerySet[CustomerBaseSnapshot]:
    """Background computations of this period and segment, with its rules of now."""
    snapshots = CustomerBaseSnapshot.objects.filter(
        first_day=period.first_day, last_day=period.last_day, segment=segment
    )
    return snapshots.filter(segment_rules=segment.rules) if segment else snapshots


def encoded_base(base: CustomerBase) -> dict:
    """`base`'s numbers as JSON values, for a snapshot (read back by _decoded_base)."""
    return {
        "customers": base.customers,
        "stages_by_month": [
            [row.month.isoformat(), row.at.isoformat(), row.stages] for row in base.stages_by_month
        ],
        "flows": [[f.from_stage, f.to_stage, f.customers] for f in base.flows],
        "rfm": [[c.recency, c.frequency, c.customers, str(c.revenue)] for c in base.rfm],
        "funnel": [[s.step, s.customers, s.conversion] for s in base.funnel],
        "cohorts": [
            [c.month.isoformat(), c.customers, c.retention, [str(v) for v in c.ltv]]
            for c in base.cohorts
        ],
        "segments": [
            [v.segment.pk, v.customers, None if v.ltv is None else str(v.ltv), v.problem]
            for v in base.segments
        ],
    }


def _decoded_base(
    snapshot: CustomerBaseSnapshot, period: Period, segment: Segment | None
) -> CustomerBase:
    data = snapshot.data
    named = Segment.objects.in_bulk([row[0] for row in data["segments"]])
    return CustomerBase(
        period=period,
        as_of=snapshot.as_of,
        segment=segment,
        customers=data["customers"],
        stages_by_month=[
            MonthStages(date.fromisoformat(month), datetime.fromisoformat(at), stages)
            for month, at, stages in data["stages_by_month"]
        ],
        flows=[Flow(*row) for row in data["flows"]],
        rfm=[RfmCell(r, f, n, Decimal(revenue)) for r, f, n, revenue in data["rfm"]],
        funnel=[FunnelStep(*row) for row in data["funnel"]],
        cohorts=[
            Cohort(date.fromisoformat(month), n, retention, [Decimal(v) for v in ltv])
            for month, n, retention, ltv in data["cohorts"]
        ],
        # (a segment deleted since is left out)
        segments=[
            SegmentValue(named[pk], n, None if ltv is None else Decimal(ltv), problem)
            for pk, n, ltv, problem in data["segments"]
            if pk in named
        ],
        snapshot=snapshot,
    )


def latest_facts_job(*, unfinished: bool = False) -> Job | None:
    """The latest monthly facts build's job (one not finished yet, when asked)."""
    jobs = Job.objects.filter(kind=FACTS_JOB_KIND)
    if unfinished:
        jobs = jobs.filter(status__in=(JobStatus.PENDING, JobStatus.RUNNING))
    return jobs.order_by("-created_at", "-pk").first()


def facts_jobs() -> QuerySet[Job]:
    """Every monthly facts build's job."""
    return Job.objects.filter(kind=FACTS_JOB_KIND)


def fact_moments(first_month: date, as_of: datetime) -> list[datetime]:
    """The moments of a build as of `as_of` from `first_month`: each month's start, then
    `as_of` (unless it is a month's very start)."""
    last_month = timezone.localtime(as_of).date()
    moments = [start_of_local_day(month) for month in months_from(first_month, last_month)]
    return [*moments, as_of] if as_of > moments[-1] else moments


def _from_facts(
    facts: CustomerBaseFacts,
    period: Period,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    limited: bool,
) -> CustomerBase | None:
    """The whole base over `period` from `facts`, or None when they do not cover it: it
    must start at a month's start they cover and end at a later one, or at or past their
    as_of (then it is read as of that moment, stale when that is over FRESH_FOR before
    `now`: the page says so rather than compute for minutes)."""
    moments = fact_moments(facts.first_month, facts.as_of)
    stale = end > facts.as_of and now - facts.as_of > FRESH_FOR
    end = min(end, facts.as_of)
    if start not in moments[:-1] or end not in moments or end <= start:
        return None
    funnel = (
        facts.periods.filter(starts_at=start, ends_at=end)
        .values_list("aware", "interested", "purchased", "loyal")
        .first()
    )
    if funnel is None:
        # Replaced by a newer build since its header was read: compute it.
        return None
    stages = {}
    for at, stage, count in facts.stages.values_list("at", "stage", "customers"):
        stages.setdefault(at, {})[stage] = count
    stages_by_month = [
        MonthStages(
            month, at, {s.value: stages.get(at, {}).get(s.value, 0) for s in LifecycleStage}
        )
        for month, at in _month_ends(period, end)
    ]
    order = [stage.value for stage in LifecycleStage]
    flows = sorted(
        (
            Flow(f, t, n)
            for f, t, n in facts.flows.filter(starts_at=start, ends_at=end).values_list(
                "from_stage", "to_stage", "customers"
            )
        ),
        key=lambda flow: (order.index(flow.from_stage), order.index(flow.to_stage)),
    )
    cells = {
        (r, f): (n, revenue)
        for r, f, n, revenue in facts.rfm.filter(starts_at=start, ends_at=end).values_list(
            "recency", "frequency", "customers", "revenue"
        )
    }
    months = months_from(period.first_day, period.last_day)
    last_month = _last_month(end)
    sizes, activity = {}, {}
    for cohort in facts.cohorts.filter(
        cohort__gte=months[0], cohort__lte=last_month, month__lte=last_month
    ):
        if cohort.month == cohort.cohort:
            sizes[cohort.cohort] = cohort.customers
        k = months_apart(cohort.cohort, cohort.month)
        activity.setdefault(cohort.cohort, {})[k] = (cohort.customers, cohort.gmv)
    return CustomerBase(
        period=period,
        as_of=end,
        segment=None,
        customers=facts.customers,
        stages_by_month=stages_by_month,
        flows=flows,
        rfm=_rfm_cells(cells),
        funnel=_funnel_steps(funnel),
        cohorts=_cohort_rows(
            months, last_month, {m: (sizes[m], activity[m]) for m in sizes if m in activity}
        ),
        segments=(
            _fact_segment_values(facts) if end == facts.as_of else _live_values(end, limited)
        ),
        facts=facts,
        facts_stale=stale,
    )


def _time_limit(limited: bool = True):
    """The time limit of the customer base computed from the orders (crm.core.time_limit),
    or a transaction without one."""
    seconds = float(settings.REPORT_TIME_LIMIT_SECONDS) if limited else math.inf
    return query_time_limit(seconds, timed_out=CustomerBaseTimedOut)


def _live_values(end: datetime, limited: bool) -> list[SegmentValue]:
    """LTV by segment at a moment the facts do not hold, within the time limit (if
    `limited`)."""
    with _time_limit(limited) as next_step:
        return segment_values(end, next_step=next_step)


def _fact_segment_values(facts: CustomerBaseFacts) -> list[SegmentValue]:
    """LTV by segment from the facts, in the live order (the segments' names now)."""
    rows = facts.segments.select_related("segment").order_by("segment__name", "segment__pk")
    return [
        SegmentValue(row.segment, row.customers, row.ltv, row.problem)
        for row in rows[:SEGMENTS_SHOWN]
    ]


def _members(segment: Segment, at: datetime) -> Sql:
    members = segment_selectors.segment_members(segment=segment, as_of=at).values("pk")
    text, params = members.query.sql_with_params()
    return Sql(text, tuple(params))


def _month_ends(period: Period, end: datetime) -> list[tuple[date, datetime]]:
    """Each month of the period begun by `end`, with the moment its stages are read: the
    next month's start, or `end` (the period's end, or now) in the last one."""
    return [
        (month, min(start_of_local_day(add_months(month, 1)), end))
        for month in months_from(period.first_day, period.last_day)
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
    return _rfm_cells({(r, f): (n, gmv) for r, f, n, gmv in cursor.fetchall()})


def _rfm_cells(found: dict[tuple[int, int], tuple[int, Decimal]]) -> list[RfmCell]:
    """The 25 cells, recency 5 to 1 by frequency 1 to 5, empty ones at 0."""
    return [
        RfmCell(r, f, *found.get((r, f), (0, Decimal("0.00"))))
        for r in range(5, 0, -1)
        for f in range(1, 6)
    ]


def _funnel(cursor, start: datetime, end: datetime, within: Sql) -> list[FunnelStep]:
    # Every touch with its step, then each customer's highest: one pass over each table
    # (joining the four to every customer made the planner walk the orders by customer
    # index, minutes at 10M orders).
    cursor.execute(
        f"""
        WITH touched AS (
            SELECT customer_id, 1 AS step FROM campaigns_message
            WHERE status = 'sent' AND sent_at >= %s AND sent_at < %s
            UNION ALL
            SELECT customer_id, 1 FROM campaigns_grant
            WHERE granted_at >= %s AND granted_at < %s
            UNION ALL
            SELECT customer_id, 2 FROM crm_behaviourevent
            WHERE kind = ANY(%s) AND occurred_at >= %s AND occurred_at < %s
            UNION ALL
            SELECT customer_id, CASE WHEN count(*) >= 2 THEN 4 ELSE 3 END FROM crm_order
            WHERE status = 'paid' AND placed_at < %s GROUP BY customer_id
            HAVING count(*) FILTER (WHERE placed_at >= %s) > 0
        ), steps AS (
            SELECT customer_id, max(step) AS step FROM touched
            WHERE customer_id IN ({within.text}) GROUP BY customer_id
        )
        SELECT count(*) FILTER (WHERE step >= 1), count(*) FILTER (WHERE step >= 2),
               count(*) FILTER (WHERE step >= 3), count(*) FILTER (WHERE step >= 4)
        FROM steps
        """,
        (
            start,
            end,
            start,
            end,
            [str(kind) for kind in INTERESTED],
            start,
            end,
            end,
            start,
            *within.params,
        ),
    )
    return _funnel_steps(cursor.fetchone())


def _funnel_steps(counts) -> list[FunnelStep]:
    """The steps with their conversions from the customers at each step or above."""
    steps, previous = [], None
    for name, count in zip(AIPL_STEPS, counts, strict=True):
        conversion = None if not previous else count / previous
        steps.append(FunnelStep(name, count, conversion))
        previous = count
    return steps


def _cohorts(cursor, period: Period, end: datetime, within: Sql) -> list[Cohort]:
    """Retention and cumulative GMV per customer by month since the first paid order, for
    the cohorts of the period's months, up to the period's end (set-based: one statement)."""
    months = months_from(period.first_day, period.last_day)
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
    return _cohort_rows(months, _last_month(end), rows)


def _last_month(end: datetime) -> date:
    """The month of a period's last instant (its end is the next day's first)."""
    return timezone.localtime(end - timedelta(microseconds=1)).date().replace(day=1)


def _cohort_rows(
    months: list[date],
    last_month: date,
    rows: dict[date, tuple[int, dict[int, tuple[int, Decimal]]]],
) -> list[Cohort]:
    """Each cohort of `months` with a row (size, {months since: (active, gmv)}): its
    retention and cumulative GMV per customer up to `last_month`."""
    cohorts = []
    for month in months:
        if month not in rows:
            continue
        size, activity = rows[month]
        span = months_apart(month, last_month) + 1
        retention, ltv, total = [], [], Decimal(0)
        for k in range(span):
            active, gmv = activity.get(k, (0, Decimal(0)))
            retention.append(active / size)
            total += gmv
            ltv.append((total / size).quantize(CENTS))
        cohorts.append(Cohort(month, size, retention, ltv))
    return cohorts


def segment_values(
    end: datetime, *, next_step: Callable[[], None] = lambda: None
) -> list[SegmentValue]:
    """The first SEGMENTS_SHOWN saved segments' members at `end` and their paid GMV up to
    it per member (`next_step` is called before each: crm.core.time_limit)."""
    values = []
    for segment in Segment.objects.order_by("name")[:SEGMENTS_SHOWN]:
        next_step()
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
