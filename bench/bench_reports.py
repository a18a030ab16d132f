"""Benchmark: the reports (issue: Analytics) on the 1,000,000-customer bench database.

The data, written once by this script with INSERT … SELECT (state for reading, not a test of
the engine), on the bench customers and their generated orders (about 11.5M):
- 20 campaigns in June 2026 over 6 channels (3 off-site, 3 on-site);
- campaign bench-report-01: all 1M customers in its audience record (10% holdout), a grant
  and coupon for each treated customer plus a second grant for 100,000 of them (1,000,000
  grants), 150,000 redemptions (one order each), a message per treated customer (5% failed);
- campaigns 02-20: 20,000 customers each (10% holdout), a grant per treated customer,
  2,631 redemptions each (about 50,000 in all);
- in all 1,342,000 grants and 199,989 redemptions.

Measured, each against hand-written SQL in the same run where one exists:
- one campaign's per-channel report (analytics.campaign_report), p50 of interleaved runs,
  against one hand-written statement per measure group giving the same numbers (checked);
- the campaigns overview of the 20 campaigns for June;
- the CSV export of bench-report-01's 1,000,000 coupons with their status through the page's
  streamed export, with the process's peak memory growth;
- the customer base for a year computed from the orders in the background (what a
  segment's runs), and its monthly facts build (the Celery tasks' services), each against
  hand-written SQL for the year's page (checked equal), then that page read from each.

Usage (repository root; the bench database `opscrm_bench`, see the README):
    .venv/bin/python -m bench.bench_reports
    .venv/bin/python -m bench.bench_reports --skip-customer-base
    .venv/bin/python -m bench.bench_reports --customer-base-only
"""

import argparse
import resource
import time
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from bench.harness import interleave, median, print_environment, print_table, setup_django

SERVER = "postgres://postgres@127.0.0.1:5432"
SHANGHAI = ZoneInfo("Asia/Shanghai")
JUNE = (datetime(2026, 6, 1, tzinfo=SHANGHAI), datetime(2026, 6, 30, 12, tzinfo=SHANGHAI))
AS_OF = datetime(2026, 6, 30, 12, tzinfo=SHANGHAI)
CHANNELS = (
    ("app_push", "off_site"),
    ("wechat_oa", "off_site"),
    ("sms", "off_site"),
    ("homepage", "on_site"),
    ("mini_program", "on_site"),
    ("app_banner", "on_site"),
)
SMALL_AUDIENCE = 20_000
SMALL_REDEMPTIONS = 2_631


def prepare() -> list[int]:
    """The 20 campaigns and their rows (once); their ids."""
    from django.db import connection, transaction

    from campaigns.models import Campaign, CampaignResource, CouponTemplate
    from campaigns.services.campaign_setup import set_channels
    from crm.models import Channel
    from segments.models import Segment
    from segments.rules import canonical_rules

    channels = [
        Channel.objects.update_or_create(code=code, defaults={"name": code, "kind": kind})[0]
        for code, kind in CHANNELS
    ]
    template, _ = CouponTemplate.objects.get_or_create(
        code="bench-report",
        defaults={
            "name": "10 off 50",
            "kind": "cash",
            "face_value": Decimal("10.00"),
            "threshold": Decimal("50.00"),
            "valid_days": 14,
        },
    )
    segment = Segment.objects.filter(name="bench report: everyone").first()
    segment = segment or Segment.objects.create(
        name="bench report: everyone",
        rules=canonical_rules({"field": "order_count", "op": "gte", "value": 0}),
    )
    ids = []
    for n in range(1, 21):
        campaign, created = Campaign.objects.get_or_create(
            code=f"bench-report-{n:02d}",
            defaults={
                "name": f"Bench report {n:02d}",
                "business_line": "snacks" if n % 2 else "drinks",
                "segment": segment,
                "claim_starts_at": JUNE[0],
                "claim_ends_at": JUNE[1],
                "trigger": "login",
                "limit_per_customer": 2,
                "daily_limit_per_customer": 2,
                "stock": 2_000_000,
                "budget": Decimal("100000000.00"),
                "holdout_share": Decimal("0.100"),
                "status": "finished",
            },
        )
        if created:
            CampaignResource.objects.create(campaign=campaign, template=template, quantity=1)
            set_channels(campaign, channels)
        ids.append(campaign.pk)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM campaigns_grant WHERE campaign_id = %s", [ids[0]])
        if cursor.fetchone()[0]:
            return ids
        started = time.perf_counter()
        with transaction.atomic():
            _write_rows(cursor, ids, [c.pk for c in channels], template.pk)
        print(f"data written in {time.perf_counter() - started:.0f} s")
        for table in (
            "campaigns_grant",
            "campaigns_coupon",
            "campaigns_redemption",
            "campaigns_audiencemember",
            "campaigns_message",
            "crm_order",
            "crm_customer",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return ids


def _write_rows(cursor, ids: list[int], channels: list[int], template: int) -> None:
    big, small = ids[0], ids[1:]
    params = {"start": JUNE[0], "template": template, "channels": channels}
    cursor.execute("SELECT min(id), max(id) FROM crm_customer")
    low, high = cursor.fetchone()
    # Audience records: everyone for the big campaign, 20,000 a piece for the others; the
    # holdout is every tenth customer (by id).
    cursor.execute(
        """
        INSERT INTO campaigns_audiencemember (campaign_id, customer_id, treated, joined_at,
                                              at_start)
        SELECT %(big)s, id, id %% 10 <> 0, %(start)s, true FROM crm_customer
        """,
        {**params, "big": big},
    )
    for n, campaign in enumerate(small):
        cursor.execute(
            """
            INSERT INTO campaigns_audiencemember (campaign_id, customer_id, treated, joined_at,
                                                  at_start)
            SELECT %(campaign)s, id, id %% 10 <> 0, %(start)s, true FROM crm_customer
            WHERE id >= %(first)s ORDER BY id LIMIT %(size)s
            """,
            {
                **params,
                "campaign": campaign,
                "first": low + (n * SMALL_AUDIENCE) % max(high - low - SMALL_AUDIENCE, 1),
                "size": SMALL_AUDIENCE,
            },
        )
    # Grants: a grant per treated member through a channel picked by customer, granted over
    # the month; the big campaign's first 100,000 treated members a second one.
    cursor.execute(
        """
        INSERT INTO campaigns_grant (campaign_id, customer_id, channel_id, trigger,
                                     idempotency_key, request_fingerprint, granted_at,
                                     coupon_count, cost)
        SELECT a.campaign_id, a.customer_id,
               (%(channels)s::bigint[])[1 + a.customer_id %% 6], 'login',
               'bench-' || a.customer_id, '', %(start)s + (a.customer_id %% 28) * interval '1 day'
                 + (a.customer_id %% 1440) * interval '1 minute', 1, 10
        FROM campaigns_audiencemember a
        WHERE a.campaign_id = ANY(%(ids)s) AND a.treated
        """,
        {**params, "ids": ids},
    )
    cursor.execute(
        """
        INSERT INTO campaigns_grant (campaign_id, customer_id, channel_id, trigger,
                                     idempotency_key, request_fingerprint, granted_at,
                                     coupon_count, cost)
        SELECT a.campaign_id, a.customer_id,
               (%(channels)s::bigint[])[1 + (a.customer_id + 1) %% 6], 'login',
               'bench-again-' || a.customer_id, '',
               %(start)s + (a.customer_id %% 28 + 1) * interval '1 day', 1, 10
        FROM campaigns_audiencemember a
        WHERE a.campaign_id = %(big)s AND a.treated ORDER BY a.customer_id LIMIT 100000
        """,
        {**params, "big": big},
    )
    cursor.execute(
        """
        INSERT INTO campaigns_coupon (created_at, updated_at, code, template_id, campaign_id,
                                      grant_id, customer_id, status, self_claimed, issued_at,
                                      valid_from, valid_until, face_value, threshold,
                                      partner_code, partner_attempts, partner_error)
        SELECT g.granted_at, g.granted_at, 'BR' || lpad(g.id::text, 12, '0'), %(template)s,
               g.campaign_id, g.id, g.customer_id, 'unused', true, g.granted_at, g.granted_at,
               g.granted_at + interval '14 days', 10, 50, '', 0, ''
        FROM campaigns_grant g WHERE g.campaign_id = ANY(%(ids)s)
        """,
        {**params, "ids": ids},
    )
    # Redemptions: every sixth coupon of the big campaign (150,000), the first 2,631 of each
    # other campaign's, each on an order of its own, two days after the grant.
    cursor.execute(
        """
        WITH chosen AS (
            SELECT c.id, c.customer_id, c.issued_at, c.campaign_id,
                   row_number() OVER (PARTITION BY c.campaign_id ORDER BY c.id) AS n
            FROM campaigns_coupon c WHERE c.campaign_id = ANY(%(ids)s)
        )
        INSERT INTO campaigns_redemption (coupon_id, customer_id, order_id, order_amount,
                                          discount, store, city, redeemed_at)
        SELECT id, customer_id, 'BR-' || id, 50 + (id %% 200), 10, '', '',
               issued_at + interval '2 days'
        FROM chosen
        WHERE (campaign_id = %(big)s AND n %% 6 = 0 AND n <= 900000)
           OR (campaign_id <> %(big)s AND n <= %(small)s)
        """,
        {**params, "ids": ids, "big": big, "small": SMALL_REDEMPTIONS},
    )
    cursor.execute(
        """
        UPDATE campaigns_coupon c SET status = 'redeemed', status_changed_at = r.redeemed_at
        FROM campaigns_redemption r WHERE r.coupon_id = c.id AND c.campaign_id = ANY(%(ids)s)
        """,
        {"ids": ids},
    )
    cursor.execute(
        """
        INSERT INTO campaigns_message (campaign_id, customer_id, channel_id, status, reason,
                                       created_at, due_at, sent_at, failed_at, attempts,
                                       last_error)
        SELECT %(big)s, a.customer_id, (%(channels)s::bigint[])[1],
               CASE WHEN a.customer_id %% 20 = 0 THEN 'failed' ELSE 'sent' END, '',
               %(start)s, %(start)s,
               CASE WHEN a.customer_id %% 20 = 0 THEN NULL ELSE %(start)s END,
               CASE WHEN a.customer_id %% 20 = 0 THEN %(start)s END, 1, ''
        FROM campaigns_audiencemember a WHERE a.campaign_id = %(big)s AND a.treated
        """,
        {**params, "big": big},
    )
    cursor.execute(
        """
        UPDATE campaigns_campaign c SET issued_count = g.n, spent = g.n * 10
        FROM (SELECT campaign_id, count(*) AS n FROM campaigns_grant
              WHERE campaign_id = ANY(%(ids)s) GROUP BY campaign_id) g
        WHERE g.campaign_id = c.id
        """,
        {"ids": ids},
    )


# The hand-written baseline: the report's numbers per channel, one statement per group.
BASELINE = """
WITH g AS (
    SELECT ch.code, count(*) AS grants FROM campaigns_grant g
    JOIN crm_channel ch ON ch.id = g.channel_id
    WHERE g.campaign_id = %(c)s AND g.granted_at <= %(as_of)s GROUP BY ch.code
), r AS (
    SELECT ch.code, count(*) AS redeemed, sum(r.discount) AS cost,
           count(DISTINCT r.order_id) AS orders
    FROM campaigns_redemption r JOIN campaigns_coupon c ON c.id = r.coupon_id
    JOIN campaigns_grant g ON g.id = c.grant_id JOIN crm_channel ch ON ch.id = g.channel_id
    WHERE c.campaign_id = %(c)s AND r.redeemed_at <= %(as_of)s
      AND (r.reversed_at IS NULL OR r.reversed_at > %(as_of)s)
    GROUP BY ch.code
)
SELECT g.code, g.grants, coalesce(r.redeemed, 0), coalesce(r.cost, 0)
FROM g LEFT JOIN r USING (code) ORDER BY g.code
"""
BASELINE_MESSAGES = """
SELECT count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status = 'failed')
FROM campaigns_message WHERE campaign_id = %(c)s
"""
BASELINE_LIFT = """
SELECT a.treated, count(*), avg(coalesce(s.gmv, 0)), var_samp(coalesce(s.gmv, 0))
FROM campaigns_audiencemember a
LEFT JOIN (SELECT customer_id, sum(amount) AS gmv FROM crm_order
           WHERE status = 'paid' AND placed_at >= %(start)s AND placed_at < %(until)s
           GROUP BY customer_id) s ON s.customer_id = a.customer_id
WHERE a.campaign_id = %(c)s GROUP BY a.treated
"""


def baseline(campaign) -> dict:
    from django.db import connection

    params = {"c": campaign.pk, "as_of": AS_OF, "start": JUNE[0], "until": JUNE[1]}
    with connection.cursor() as cursor:
        cursor.execute(BASELINE, params)
        rows = {code: (grants, redeemed, cost) for code, grants, redeemed, cost in cursor}
        cursor.execute(BASELINE_MESSAGES, params)
        sent = cursor.fetchone()
        cursor.execute(BASELINE_LIFT, params)
        lift = cursor.fetchall()
    return {"channels": rows, "messages": sent, "lift": lift}


# The customer base's year in hand-written SQL: the numbers its page reads from the facts
# for the twelve months to AS_OF (stages at each month's end, the year's flows, RFM grid,
# funnel and cohorts), with the thresholds' defaults (the bench database keeps them).
BASE_STAGE = """
SELECT customer_id,
       CASE WHEN max(placed_at) < %(at)s - interval '90 days' THEN 'churned'
            WHEN max(placed_at) < %(at)s - interval '30 days' THEN 'silent'
            WHEN min(placed_at) > %(at)s - interval '30 days' THEN 'new'
            WHEN count(*) FILTER (WHERE placed_at > %(at)s - interval '30 days') >= 5
              THEN 'mature'
            WHEN count(*) FILTER (WHERE placed_at > %(at)s - interval '30 days')
               < count(*) FILTER (WHERE placed_at > %(at)s - interval '60 days'
                                    AND placed_at <= %(at)s - interval '30 days')
              THEN 'declining'
            ELSE 'growing' END AS stage
FROM crm_order WHERE status = 'paid' AND placed_at <= %(at)s GROUP BY customer_id
"""
BASE_STAGE_COUNTS = f"""
SELECT coalesce(s.stage, 'potential'), count(*)
FROM crm_customer c LEFT JOIN ({BASE_STAGE}) s ON s.customer_id = c.id
WHERE c.registered_at IS NULL OR c.registered_at <= %(at)s OR s.customer_id IS NOT NULL
GROUP BY 1
"""
BASE_FLOWS = """
SELECT coalesce(b.stage, 'potential'), coalesce(a.stage, 'potential'), count(*)
FROM crm_customer c
LEFT JOIN ({before}) b ON b.customer_id = c.id LEFT JOIN ({after}) a ON a.customer_id = c.id
GROUP BY 1, 2
""".format(
    before=BASE_STAGE.replace("%(at)s", "%(start)s"), after=BASE_STAGE.replace("%(at)s", "%(end)s")
)
BASE_RFM = """
WITH t AS MATERIALIZED (
    SELECT customer_id, max(placed_at) AS last, count(*) AS n FROM crm_order
    WHERE status = 'paid' AND placed_at <= %(end)s GROUP BY customer_id
), r AS (
    SELECT array_agg(edge ORDER BY tile) AS e FROM (
        SELECT tile, min(last) AS edge
        FROM (SELECT last, ntile(5) OVER (ORDER BY last DESC) AS tile FROM t) x GROUP BY tile) y
), f AS (
    SELECT array_agg(edge ORDER BY tile) AS e FROM (
        SELECT tile, max(n) AS edge
        FROM (SELECT n, ntile(5) OVER (ORDER BY n) AS tile FROM t) x GROUP BY tile) y
), spend AS (
    SELECT customer_id, sum(amount) AS gmv FROM crm_order
    WHERE status = 'paid' AND placed_at >= %(start)s AND placed_at < %(end)s GROUP BY 1
)
SELECT 5 - ((t.last < r.e[1])::int + (t.last < r.e[2])::int + (t.last < r.e[3])::int
            + (t.last < r.e[4])::int),
       1 + ((t.n > f.e[1])::int + (t.n > f.e[2])::int + (t.n > f.e[3])::int
            + (t.n > f.e[4])::int),
       count(*), coalesce(sum(s.gmv), 0)
FROM t CROSS JOIN r CROSS JOIN f LEFT JOIN spend s USING (customer_id)
GROUP BY 1, 2
"""
BASE_FUNNEL = """
WITH touched AS (
    SELECT customer_id, 1 AS level FROM campaigns_message
    WHERE status = 'sent' AND sent_at >= %(start)s AND sent_at < %(end)s
    UNION ALL
    SELECT customer_id, 1 FROM campaigns_grant
    WHERE granted_at >= %(start)s AND granted_at < %(end)s
    UNION ALL
    SELECT customer_id, 2 FROM crm_behaviourevent
    WHERE kind IN ('visit', 'favorite', 'add_to_cart')
      AND occurred_at >= %(start)s AND occurred_at < %(end)s
), orders AS (
    SELECT customer_id, count(*) FILTER (WHERE placed_at >= %(start)s) AS in_period,
           count(*) AS by_end
    FROM crm_order WHERE status = 'paid' AND placed_at < %(end)s GROUP BY customer_id
), steps AS (
    SELECT customer_id, max(step) AS step FROM (
        SELECT customer_id, level AS step FROM touched
        UNION ALL
        SELECT customer_id, CASE WHEN by_end >= 2 THEN 4 ELSE 3 END FROM orders
        WHERE in_period > 0
    ) x GROUP BY customer_id
)
SELECT count(*) FILTER (WHERE step >= 1), count(*) FILTER (WHERE step >= 2),
       count(*) FILTER (WHERE step >= 3), count(*) FILTER (WHERE step >= 4)
FROM steps
"""
BASE_COHORTS = """
WITH paid AS (
    SELECT customer_id, amount, date_trunc('month', placed_at AT TIME ZONE 'Asia/Shanghai')::date
             AS month
    FROM crm_order WHERE status = 'paid' AND placed_at < %(end)s
), firsts AS (SELECT customer_id, min(month) AS cohort FROM paid GROUP BY customer_id)
SELECT f.cohort, p.month, count(DISTINCT p.customer_id), sum(p.amount)
FROM firsts f JOIN paid p USING (customer_id) WHERE f.cohort >= %(first_month)s
GROUP BY 1, 2
"""
BASE_LTV = """
SELECT count(*), coalesce(sum(s.gmv), 0) FROM crm_customer c
LEFT JOIN (SELECT customer_id, sum(amount) AS gmv FROM crm_order
           WHERE status = 'paid' AND placed_at < %(end)s GROUP BY 1) s ON s.customer_id = c.id
"""


def customer_base_sql(*, start: datetime, end: datetime, month_ends: list[datetime]) -> dict:
    """The year's customer base by the hand-written statements above."""
    from django.db import connection

    params = {"start": start, "end": end, "first_month": date(2025, 7, 1)}
    with connection.cursor() as cursor:
        stages = []
        for at in month_ends:
            cursor.execute(BASE_STAGE_COUNTS, {"at": at})
            stages.append(dict(cursor.fetchall()))
        found = {}
        for name, sql in (
            ("flows", BASE_FLOWS),
            ("rfm", BASE_RFM),
            ("funnel", BASE_FUNNEL),
            ("cohorts", BASE_COHORTS),
            ("segments", BASE_LTV),
        ):
            cursor.execute(sql, params)
            found[name] = cursor.fetchall()
    return {"stages": stages, **found}


def bench_customer_base(*, runs: int) -> list[dict]:
    """The year's page computed from the orders in the background (what a segment's, or
    days the facts do not answer, run), and the monthly facts' build (the Celery tasks'
    services), each against the hand-written SQL of the year's page, checked equal; then
    the page for the year read from each."""
    from django.utils import timezone

    from analytics.customer_base import LOST_AFTER, customer_base
    from analytics.filters import Period
    from analytics.models import CustomerBaseFacts
    from analytics.services.customer_base_facts import build_customer_base_facts
    from analytics.services.customer_base_snapshots import (
        compute_customer_base_snapshot,
        start_customer_base_snapshot,
    )
    from crm.core.jobs import create_job

    period = Period(date(2025, 7, 1), date(2026, 6, 30))
    # Without facts, the year is computed from the orders, as a segment's would be.
    CustomerBaseFacts.objects.all().delete()
    # (now: the clock, which the job rows carry; a job left by a stopped run is not reused)
    job = start_customer_base_snapshot(
        actor=None, period=period, segment=None, now=timezone.now() + LOST_AFTER
    )
    started = time.perf_counter()
    compute_customer_base_snapshot(job_id=job.pk, now=AS_OF)
    background_seconds = time.perf_counter() - started
    computed = customer_base(period=period, now=AS_OF, segment=None)
    if not computed.computed_in_background:
        raise SystemExit("the year was not read from the background computation")
    computed_page = interleave(
        {"page": lambda: customer_base(period=period, now=AS_OF, segment=None)}, runs=runs
    )["page"]
    job = create_job(kind="customer_base_facts", label="bench")
    started = time.perf_counter()
    build_customer_base_facts(job_id=job.pk, as_of=AS_OF, now=AS_OF)
    build_seconds = time.perf_counter() - started
    base = customer_base(period=period, now=AS_OF, segment=None)
    if base.facts is None:
        raise SystemExit("the year was not read from the facts")
    started = time.perf_counter()
    sql = customer_base_sql(
        start=period.starts_at, end=AS_OF, month_ends=[m.at for m in base.stages_by_month]
    )
    sql_seconds = time.perf_counter() - started
    _check_customer_base(base, sql)
    _check_customer_base(computed, sql)
    page = interleave(
        {"page": lambda: customer_base(period=period, now=AS_OF, segment=None)}, runs=runs
    )["page"]
    return [
        {
            "measure": "customer base, a year, computed from the orders in the background",
            "product p50 s": background_seconds,
            "SQL p50 s": sql_seconds,
            "ratio": background_seconds / sql_seconds,
        },
        {
            "measure": "customer base page, a year, from the background computation",
            "product p50 s": median(computed_page),
            "SQL p50 s": "",
            "ratio": "",
        },
        {
            "measure": "customer base facts build (13 months, every period of whole months)",
            "product p50 s": build_seconds,
            "SQL p50 s": sql_seconds,
            "ratio": build_seconds / sql_seconds,
        },
        {
            "measure": "customer base page, a year, from the facts",
            "product p50 s": median(page),
            "SQL p50 s": "",
            "ratio": "",
        },
    ]


def _check_customer_base(base, sql: dict) -> None:
    stages = [{k: v for k, v in m.stages.items() if v} for m in base.stages_by_month]
    if stages != sql["stages"]:
        raise SystemExit("stages: the facts and the SQL disagree")
    flows = sorted((f.from_stage, f.to_stage, f.customers) for f in base.flows)
    if flows != sorted(sql["flows"]):
        raise SystemExit("flows: the facts and the SQL disagree")
    rfm = sorted((c.recency, c.frequency, c.customers, c.revenue) for c in base.rfm if c.customers)
    if rfm != sorted(sql["rfm"]):
        raise SystemExit("rfm: the facts and the SQL disagree")
    if tuple(step.customers for step in base.funnel) != sql["funnel"][0]:
        raise SystemExit("funnel: the facts and the SQL disagree")
    sizes = {cohort: n for cohort, month, n, _ in sql["cohorts"] if cohort == month}
    if {c.month: c.customers for c in base.cohorts} != sizes:
        raise SystemExit("cohorts: the facts and the SQL disagree")
    count, gmv = sql["segments"][0]
    everyone = base.segments[0]
    if (everyone.customers, everyone.ltv) != (count, (gmv / count).quantize(Decimal("0.01"))):
        raise SystemExit("LTV by segment: the facts and the SQL disagree")


def drop_campaign_facts() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM analytics_campaignhourfact")
        cursor.execute("DELETE FROM analytics_campaignfacts")


def _check_report(report, expected: dict, live) -> None:
    """The report against the hand-written SQL, and against the one read from the rows:
    every measure, the series and the burn (lift to 1e-9: the two sum differently)."""
    for code, (grants, redeemed, cost) in expected["channels"].items():
        row = report.channels[code]
        if (row.claimed, row.redeemed, row.cost) != (grants, redeemed, cost):
            raise SystemExit(f"{code}: the report and the SQL disagree")
    if (report.total.delivered, report.total.delivery_failed) != expected["messages"]:
        raise SystemExit("messages: the report and the SQL disagree")
    pairs = [(report.total, live.total)]
    pairs += zip(report.channels.values(), live.channels.values(), strict=True)
    for mine, theirs in pairs:
        for name, value in vars(theirs).items():
            if not _same(getattr(mine, name), value):
                raise SystemExit(f"{name}: {getattr(mine, name)} from the facts, {value} rows")
    if (report.series, report.burn) != (live.series, live.burn):
        raise SystemExit("the series or the burn differ from the rows'")


def _same(a, b) -> bool:
    if isinstance(b, float) and a is not None:
        return abs(a - b) <= 1e-9 * max(1.0, abs(b))
    if isinstance(b, tuple) and a is not None:
        return all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default="opscrm_bench")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-customer-base", action="store_true")
    parser.add_argument("--customer-base-only", action="store_true")
    options = parser.parse_args()
    dsn = f"{SERVER}/{options.database}"
    setup_django(dsn)
    print_environment(dsn)

    from django.contrib.auth.models import Group, User
    from django.test import Client
    from django.utils import timezone

    from analytics.campaign_overview import campaign_overview
    from analytics.campaign_report import campaign_report
    from analytics.filters import Period
    from analytics.services.campaign_facts import build_campaign_facts
    from campaigns.models import Campaign

    ids = prepare()
    big = Campaign.objects.get(pk=ids[0])
    if options.customer_base_only:
        print_table(bench_customer_base(runs=options.runs), title="Customer base (seconds)")
        return

    # The report and the overview from the rows themselves, then from the hourly facts
    # (built as the hourly task builds them: now, so June is in them and the report as of
    # 30 June noon reads that day's morning from the rows), each checked equal to the SQL.
    drop_campaign_facts()
    campaigns = Campaign.objects.filter(pk__in=ids)
    period = Period(date(2026, 6, 1), date(2026, 6, 30))
    rows = []
    live = campaign_report(campaign=big, as_of=AS_OF)
    for label in ("rows", "hourly facts"):
        if label == "hourly facts":
            started = time.perf_counter()
            build_campaign_facts(now=timezone.now())
            rows.append(
                {
                    "measure": "hourly facts build, every campaign",
                    "product p50 s": time.perf_counter() - started,
                    "SQL p50 s": "",
                    "ratio": "",
                }
            )
        report = campaign_report(campaign=big, as_of=AS_OF)
        if label == "hourly facts" and report.facts is None:
            raise SystemExit("the report did not read the hourly facts")
        _check_report(report, baseline(big), live)
        timings = interleave(
            {
                "report": lambda: campaign_report(campaign=big, as_of=AS_OF),
                "hand-written SQL": lambda: baseline(big),
            },
            runs=options.runs,
        )
        rows.append(
            {
                "measure": f"one campaign's report (1M grants), from the {label}",
                "product p50 s": median(timings["report"]),
                "SQL p50 s": median(timings["hand-written SQL"]),
                "ratio": median(timings["report"]) / median(timings["hand-written SQL"]),
            }
        )
        overview_times = interleave(
            {
                "overview": lambda: campaign_overview(
                    campaigns=campaigns, period=period, now=AS_OF, ordering="-gmv"
                )
            },
            runs=options.runs,
        )["overview"]
        rows.append(
            {
                "measure": f"overview of 20 campaigns, from the {label}",
                "product p50 s": median(overview_times),
                "SQL p50 s": "",
                "ratio": "",
            }
        )

    marketer, _ = User.objects.get_or_create(username="bench-marketer")
    marketer.groups.add(Group.objects.get_or_create(name="marketer")[0])
    client = Client()
    client.force_login(marketer)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    response = client.get("/coupons/export/", {"campaign": big.code})
    size = lines = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += chunk.count(b"\n")
    export_seconds = time.perf_counter() - started
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    rows.append(
        {
            "measure": f"CSV export, {lines - 1:,} coupons, {size / 1e6:.0f} MB "
            f"(peak RSS growth {growth / 1024:.0f} MiB)",
            "product p50 s": export_seconds,
            "SQL p50 s": "",
            "ratio": "",
        }
    )

    if not options.skip_customer_base:
        rows.extend(bench_customer_base(runs=options.runs))
    print_table(rows, title="Reports (seconds; ratio = product / hand-written SQL)")


if __name__ == "__main__":
    main()
