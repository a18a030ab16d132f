"""Build the customer base's monthly facts (analytics.models): the whole base's report
tables for every period of whole months of the last FACT_MONTHS months, this one included,
as of the build's moment, so the page for a year reads a few hundred rows instead of ten
million orders.

Each number comes from the same definitions the live report uses (analytics.customer_base's
docstring; stages and RFM scores from crm.measures at each moment), set-based:
- the moments: each month's start from the first month, and the build's `as_of`;
- stages: the stage definition at every moment, once each, kept as one letter per moment
  per customer, so the stage counts at each moment and the flows of every (start, end)
  pair are group-bys over those paths;
- funnel: per customer, one bit per month with a touch of each level (a message sent or a
  grant; a visit, favourite or add-to-cart; a paid order) and the month their second paid
  order reached; a period's steps are bit masks over those;
- RFM: the scores at every end, with their customers' paid GMV per month; a period's
  revenue sums its months;
- cohorts: customers and paid GMV by (first paid order's month, month);
- LTV by segment at `as_of` (the live definition, once).

Intermediate rows live in temporary tables of the build's session; the facts are written
in one transaction with their CustomerBaseFacts row, replacing the previous build.
"""

from collections.abc import Iterator
from datetime import date, datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone

from analytics import tasks
from analytics.customer_base import (
    FACTS_JOB_KIND,
    LOST_AFTER,
    fact_moments,
    latest_facts_job,
    segment_values,
)
from analytics.models import CustomerBaseFacts, SegmentFact
from campaigns.operator_time import operator_zone_name
from crm import selectors as crm_selectors
from crm.core.jobs import claim_job, create_job, fail_job, finish_job, record_job_progress
from crm.core.models import Job
from crm.core.operator_calendar import add_months
from crm.enums import EventKind, LifecycleStage
from crm.measures import rfm_at

# The months covered: this one and the twelve before, so every period of whole months in
# the last year, and the year to date, is answered.
FACT_MONTHS = 13
# Stages are kept one letter per moment: the stages' first letters are distinct.
STAGE_LETTERS = {stage.value[0]: stage.value for stage in LifecycleStage}
if len(STAGE_LETTERS) != len(LifecycleStage):
    raise ImproperlyConfigured("Two lifecycle stages share a first letter.")
INTERESTED = (EventKind.VISIT, EventKind.FAVORITE, EventKind.ADD_TO_CART)
TEMPORARY = ("fact_stage_rows", "fact_customers", "fact_reach", "fact_spend", "fact_rfm")


def _stage_named(letter: str) -> str:
    """SQL naming the stage of a letter (constants only)."""
    cases = " ".join(f"WHEN '{first}' THEN '{stage}'" for first, stage in STAGE_LETTERS.items())
    return f"(CASE {letter} {cases} END)"


def start_customer_base_facts(*, actor: AbstractBaseUser | None, now: datetime) -> Job:
    """Create a pending build Job and enqueue the build when the transaction commits; a
    build already pending or running is returned instead of a second one."""
    with transaction.atomic():
        # One start at a time, so two clicks make one build.
        connection.cursor().execute(
            "SELECT pg_advisory_xact_lock(hashtext('analytics.start_customer_base_facts'))"
        )
        waiting = latest_facts_job(unfinished=True)
        # A build started long ago lost its worker: start another.
        if waiting is not None and waiting.created_at > now - LOST_AFTER:
            return waiting
        job = create_job(
            kind=FACTS_JOB_KIND,
            label="Customer base monthly facts",
            created_by=actor if actor is not None and actor.is_authenticated else None,
        )
        job_id = job.pk
        transaction.on_commit(lambda: tasks.build_customer_base_facts_task.delay(job_id))
    return job


def build_customer_base_facts(
    *, job_id: int, as_of: datetime, now: datetime
) -> CustomerBaseFacts | None:
    """Build the facts as of `as_of` (the task: now), with progress on the job (steps of
    work, its times from `now` and the clock); replaces the previous build. A job that
    already finished is not run again (a redelivered task)."""
    job = Job.objects.get(pk=job_id)
    first_month = add_months(timezone.localtime(as_of).date(), 1 - FACT_MONTHS)
    moments = fact_moments(first_month, as_of)
    ends = len(moments) - 1
    # A step per moment's stages, per end's RFM, and the paths, funnel, spend and segments.
    if not claim_job(job=job, now=now, total=len(moments) + ends + 4):
        # Finished, or running elsewhere (a redelivered task); a build whose worker died
        # is lost, and the next start makes a new one (LOST_AFTER).
        return None
    with connection.cursor() as cursor:
        try:
            for _ in _compute(cursor, moments):
                record_job_progress(job=job, done=1)
            segments = segment_values(moments[-1])
            record_job_progress(job=job, done=1)
            with transaction.atomic():
                facts = _write(
                    cursor,
                    job=job,
                    first_month=first_month,
                    moments=moments,
                    segments=segments,
                    now=now,
                )
        except Exception as error:
            # The first line only: a database error's DETAIL may quote a row.
            first_line = (str(error).splitlines() or [type(error).__name__])[0]
            fail_job(job=job, now=now, message=f"The build stopped: {first_line}")
            raise
        finally:
            for table in TEMPORARY:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
    finish_job(
        job=job,
        now=now,
        message=f"Facts from {first_month:%Y-%m} as of {timezone.localtime(as_of):%Y-%m-%d %H:%M}.",
    )
    return facts


def _compute(cursor, moments: list[datetime]) -> Iterator[None]:
    """Fill the temporary tables, yielding after each step."""
    last = len(moments) - 1
    cursor.execute("CREATE TEMPORARY TABLE fact_stage_rows (customer_id bigint, idx int, s text)")
    for idx, moment in enumerate(moments):
        stages = crm_selectors.stages_at(moment)
        cursor.execute(
            f"INSERT INTO fact_stage_rows SELECT customer_id, %s, left(stage, 1)"
            f" FROM ({stages.text}) s",
            (idx, *stages.params),
        )
        yield
    # A customer's stage at every moment, one letter each (`p`otential: no paid order then).
    # Each letter at its moment's position, `p` where a moment has no row: before the
    # first paid order, and after an order refunded while the build ran.
    cursor.execute(
        """
        CREATE TEMPORARY TABLE fact_customers AS
        SELECT c.id, c.registered_at, coalesce(s.path, repeat('p', %(moments)s)) AS path
        FROM crm_customer c
        LEFT JOIN (
            SELECT customer_id,
                   string_agg(repeat('p', idx - before - 1) || s, '' ORDER BY idx)
                     || repeat('p', %(last)s - max(idx)) AS path
            FROM (SELECT customer_id, idx, s,
                         coalesce(lag(idx) OVER (PARTITION BY customer_id ORDER BY idx), -1)
                           AS before
                  FROM fact_stage_rows) r
            GROUP BY customer_id
        ) s ON s.customer_id = c.id
        """,
        {"moments": len(moments), "last": last},
    )
    yield
    # Month k (1-based) runs from moments[k - 1] to moments[k]: width_bucket's numbering.
    bounds = list(moments)
    cursor.execute(
        """
        CREATE TEMPORARY TABLE fact_reach AS
        WITH touches AS (
            SELECT customer_id, width_bucket(sent_at, %(bounds)s) AS k, 1 AS level
            FROM campaigns_message
            WHERE status = 'sent' AND sent_at >= %(first)s AND sent_at < %(last)s
            UNION ALL
            SELECT customer_id, width_bucket(granted_at, %(bounds)s), 1 FROM campaigns_grant
            WHERE granted_at >= %(first)s AND granted_at < %(last)s
            UNION ALL
            SELECT customer_id, width_bucket(occurred_at, %(bounds)s), 2 FROM crm_behaviourevent
            WHERE kind = ANY(%(interested)s)
              AND occurred_at >= %(first)s AND occurred_at < %(last)s
            UNION ALL
            SELECT customer_id, width_bucket(placed_at, %(bounds)s), 3 FROM crm_order
            WHERE status = 'paid' AND placed_at >= %(first)s AND placed_at < %(last)s
        ), reach AS (
            SELECT customer_id,
                   bit_or(1::bigint << (k - 1)) AS aware,
                   coalesce(bit_or(1::bigint << (k - 1)) FILTER (WHERE level >= 2), 0)
                     AS interested,
                   coalesce(bit_or(1::bigint << (k - 1)) FILTER (WHERE level = 3), 0)
                     AS purchased
            FROM touches GROUP BY customer_id
        ), second AS (
            SELECT customer_id, placed_at FROM (
                SELECT o.customer_id, o.placed_at,
                       row_number() OVER (PARTITION BY o.customer_id ORDER BY o.placed_at) AS n
                FROM crm_order o JOIN reach r USING (customer_id)
                WHERE r.purchased <> 0 AND o.status = 'paid' AND o.placed_at < %(last)s
            ) ordered WHERE n = 2
        )
        SELECT r.*, coalesce(width_bucket(s.placed_at, %(bounds)s), %(never)s) AS loyal_from
        FROM reach r LEFT JOIN second s USING (customer_id)
        """,
        {
            "bounds": bounds,
            "first": moments[0],
            "last": moments[-1],
            "interested": [str(kind) for kind in INTERESTED],
            "never": last + 1,
        },
    )
    yield
    cursor.execute(
        """
        CREATE TEMPORARY TABLE fact_spend AS
        SELECT customer_id, width_bucket(placed_at, %s) AS k, sum(amount) AS gmv
        FROM crm_order WHERE status = 'paid' AND placed_at >= %s AND placed_at < %s
        GROUP BY 1, 2
        """,
        (bounds, moments[0], moments[-1]),
    )
    cursor.execute("CREATE INDEX ON fact_spend (customer_id)")
    cursor.execute("ANALYZE fact_spend")
    yield
    cursor.execute(
        "CREATE TEMPORARY TABLE fact_rfm (b int, r int, f int, k int, customers int, gmv numeric)"
    )
    for b in range(1, last + 1):
        scores = rfm_at(as_of=moments[b], scores="rfm")
        # k = 0: the cell's customers; k >= 1: their paid GMV in month k.
        cursor.execute(
            f"""
            INSERT INTO fact_rfm
            WITH scores AS ({scores.text})
            SELECT %s, rfm_recency, rfm_frequency, 0, count(*), 0 FROM scores GROUP BY 2, 3
            UNION ALL
            SELECT %s, s.rfm_recency, s.rfm_frequency, p.k, 0, sum(p.gmv)
            FROM scores s JOIN fact_spend p USING (customer_id) WHERE p.k <= %s
            GROUP BY 2, 3, 4
            """,
            (*scores.params, b, b, b),
        )
        yield


def _write(
    cursor, *, job: Job, first_month: date, moments: list[datetime], segments, now: datetime
) -> CustomerBaseFacts:
    """The facts from the temporary tables (one transaction), keeping the previous build
    only: a page that read the previous header a moment ago still finds its rows."""
    # Two builds at once write one after the other.
    cursor.execute("SELECT pg_advisory_xact_lock(hashtext('analytics.customer_base_facts'))")
    previous = CustomerBaseFacts.objects.order_by("-as_of", "-pk").first()
    CustomerBaseFacts.objects.exclude(pk=previous.pk if previous else None).delete()
    cursor.execute("SELECT count(*) FROM fact_customers")
    (customers,) = cursor.fetchone()
    facts = CustomerBaseFacts.objects.create(
        as_of=moments[-1],
        first_month=first_month,
        customers=customers,
        job=job,
        built_at=now,
    )
    last = len(moments) - 1
    params = {"facts": facts.pk, "moments": list(moments), "last": last}
    # Periods: from a month's start (index a) to a later moment (index b).
    pairs = """
        SELECT a, b, %(moments)s::timestamptz[] AS m,
               (1::bigint << b) - (1::bigint << a) AS mask
        FROM generate_series(0, %(last)s - 1) a, generate_series(1, %(last)s) b WHERE a < b
    """
    cursor.execute(
        f"""
        INSERT INTO analytics_stagefact (facts_id, at, stage, customers)
        SELECT %(facts)s, (%(moments)s::timestamptz[])[i + 1],
               {_stage_named("substr(path, i + 1, 1)")}, count(*)
        FROM fact_customers, generate_series(0, %(last)s) i
        WHERE registered_at IS NULL OR registered_at <= (%(moments)s::timestamptz[])[i + 1]
           OR substr(path, i + 1, 1) <> 'p'
        GROUP BY 2, 3
        """,
        params,
    )
    cursor.execute(
        f"""
        INSERT INTO analytics_flowfact (facts_id, starts_at, ends_at, from_stage, to_stage,
                                        customers)
        SELECT %(facts)s, p.m[p.a + 1], p.m[p.b + 1], {_stage_named("substr(t.path, p.a + 1, 1)")},
               {_stage_named("substr(t.path, p.b + 1, 1)")}, sum(t.customers)
        FROM (SELECT path, count(*) AS customers FROM fact_customers GROUP BY path) t,
             ({pairs}) p
        GROUP BY p.a, p.b, p.m, 4, 5
        """,
        params,
    )
    cursor.execute(
        f"""
        INSERT INTO analytics_periodfact (facts_id, starts_at, ends_at, aware, interested,
                                          purchased, loyal)
        SELECT %(facts)s, p.m[p.a + 1], p.m[p.b + 1],
               coalesce(sum(n) FILTER (WHERE r.aware & p.mask <> 0), 0),
               coalesce(sum(n) FILTER (WHERE r.interested & p.mask <> 0), 0),
               coalesce(sum(n) FILTER (WHERE r.purchased & p.mask <> 0), 0),
               coalesce(sum(n) FILTER (WHERE r.purchased & p.mask <> 0
                                         AND r.loyal_from <= p.b), 0)
        FROM ({pairs}) p
        LEFT JOIN (SELECT aware, interested, purchased, loyal_from, count(*) AS n
                   FROM fact_reach GROUP BY 1, 2, 3, 4) r ON true
        GROUP BY p.a, p.b, p.m
        """,
        params,
    )
    cursor.execute(
        f"""
        INSERT INTO analytics_rfmfact (facts_id, starts_at, ends_at, recency, frequency,
                                       customers, revenue)
        SELECT %(facts)s, p.m[p.a + 1], p.m[p.b + 1], c.r, c.f, c.customers,
               coalesce((SELECT sum(g.gmv) FROM fact_rfm g
                         WHERE g.b = c.b AND g.r = c.r AND g.f = c.f
                           AND g.k > p.a AND g.k <= p.b), 0)
        FROM ({pairs}) p JOIN fact_rfm c ON c.b = p.b AND c.k = 0
        """,
        params,
    )
    cursor.execute(
        """
        INSERT INTO analytics_cohortfact (facts_id, cohort, month, customers, gmv)
        WITH paid AS (
            SELECT customer_id, amount,
                   date_trunc('month', placed_at AT TIME ZONE %(zone)s)::date AS month
            FROM crm_order WHERE status = 'paid' AND placed_at < %(as_of)s
        ), firsts AS (
            SELECT customer_id, min(month) AS cohort FROM paid GROUP BY customer_id
        )
        SELECT %(facts)s, f.cohort, p.month, count(DISTINCT p.customer_id), sum(p.amount)
        FROM firsts f JOIN paid p USING (customer_id)
        WHERE f.cohort >= %(first_month)s
        GROUP BY 2, 3
        """,
        {**params, "zone": operator_zone_name(), "as_of": moments[-1], "first_month": first_month},
    )
    SegmentFact.objects.bulk_create(
        SegmentFact(
            facts=facts,
            segment=value.segment,
            customers=value.customers,
            ltv=value.ltv,
            problem=value.problem,
        )
        for value in segments
    )
    return facts
