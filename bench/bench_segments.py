"""Benchmark (c): segment previews and refresh against hand-written SQL.

Ten reference rules, each counted by the product (what a preview counts with: the rule
tree parsed, compiled to one Q, counted by the ORM) and by a hand-written SQL query
answering the same question. Both counts are first checked equal (in one REPEATABLE READ
snapshot), then timed interleaved (A/B/A/B) after a warm-up, median of 5, both in the
session settings the product's previews use (query_settings.SEGMENT_QUERY_SETTINGS: jit off,
work_mem 32 MB; --defaults for the database's own). Then a refresh materialising a
segment of every customer (1,000,000 members on the 1M database: "registered before
1 July 2026") with refresh.refresh_segment against one INSERT ... SELECT of the same
members, both into an empty member list, and once more with the members already there.

Targets: every rule within 1.5x of its SQL and under 5 s, the attribute-only rule under
250 ms, the refresh within 2x of the INSERT ... SELECT and under 25 s.

Usage (from the repository root):
    .venv/bin/python -m bench.bench_segments                      # database opscrm_bench
    .venv/bin/python -m bench.bench_segments --database opscrm_bench_segments
    .venv/bin/python -m bench.bench_segments --only 5 --explain   # EXPLAIN ANALYZE both
    .venv/bin/python -m bench.bench_segments --only none --refresh-batch-size 50000

The database must hold generated data as of AS_OF with its metrics recomputed, e.g. a
static copy that no other benchmark rewrites (its stored metric columns and visibility
map stay put):
    createdb -h 127.0.0.1 -U postgres opscrm_bench_segments
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/opscrm_bench_segments \
        .venv/bin/python manage.py migrate
    DATABASE_URL=... .venv/bin/python manage.py generate_demo_data --customers 1000000 \
        --seed 42 --as-of 2026-06-30T12:00:00+00:00
The script writes only its own segments (named "bench_segments: ...") and deletes them at
the end.
"""

import argparse
import statistics
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bench.harness import interleave, median, print_environment, print_table, setup_django

SERVER = "postgres://postgres@127.0.0.1:5432"
AS_OF = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
PAST = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RATIO_TARGET = 1.5
ATTRIBUTE_TARGET_SECONDS = 0.25
RULE_TARGET_SECONDS = 5.0
REFRESH_RATIO_TARGET = 2.0
REFRESH_TARGET_SECONDS = 25.0
# Everyone registered before this local date: every customer of the generated data (all
# registered before AS_OF), so the refresh materialises the whole 1M-customer base.
REGISTERED_BEFORE = "2026-07-01"
BENCH_PREFIX = "bench_segments: "


def days_before(moment: datetime, days: int) -> datetime:
    return moment - timedelta(days=days)


def reference_rules(attribute_segment_id: int) -> list[dict]:
    """(name, rules, as_of, as_of_is_now, SQL, params): the ten reference questions."""
    week = days_before(AS_OF, 7)
    quarter = days_before(AS_OF, 90)
    half_year = days_before(AS_OF, 180)
    year = days_before(AS_OF, 365)
    month = days_before(AS_OF, 30)
    return [
        {
            "name": "1 attribute only",
            "rules": {
                "all": [
                    {"field": "city", "op": "in", "value": ["Shanghai", "Beijing"]},
                    {"field": "member_tier", "op": "eq", "value": "gold"},
                    {"field": "gender", "op": "eq", "value": "female"},
                ]
            },
            "as_of": AS_OF,
            "now": True,
            "sql": """
                SELECT count(*) FROM crm_customer
                WHERE city IN ('Shanghai', 'Beijing') AND member_tier = 'gold'
                  AND gender = 'female'
            """,
            "params": {},
        },
        {
            "name": "2 RFM combination",
            "rules": {
                "all": [
                    {"field": "rfm_group", "op": "in", "value": ["champions", "loyal"]},
                    {"field": "lifecycle_stage", "op": "in", "value": ["growing", "mature"]},
                ]
            },
            "as_of": AS_OF,
            "now": True,
            "sql": """
                SELECT count(*) FROM crm_customer
                WHERE rfm_group IN ('champions', 'loyal')
                  AND lifecycle_stage IN ('growing', 'mature')
            """,
            "params": {},
        },
        {
            "name": "3 orders in window with category",
            "rules": {
                "field": "order_count",
                "op": "gte",
                "value": 2,
                "window": {"last_days": 90},
                "category": "nuts",
            },
            "as_of": AS_OF,
            "now": True,
            "sql": """
                SELECT count(*) FROM (
                    SELECT o.customer_id FROM crm_order o
                    WHERE o.status = 'paid' AND o.placed_at > %(quarter)s
                      AND o.placed_at <= %(as_of)s
                      AND EXISTS (SELECT 1 FROM crm_orderitem i
                                  WHERE i.order_id = o.id AND i.category = 'nuts')
                    GROUP BY o.customer_id HAVING count(*) >= 2
                ) qualifying
            """,
            "params": {"quarter": quarter, "as_of": AS_OF},
        },
        {
            "name": "4 cart in 7 days, no order",
            "rules": {
                "all": [
                    {
                        "field": "event_count",
                        "op": "gte",
                        "value": 1,
                        "kind": "add_to_cart",
                        "window": {"last_days": 7},
                    },
                    {"field": "order_count", "op": "eq", "value": 0, "window": {"last_days": 7}},
                ]
            },
            "as_of": AS_OF,
            "now": True,
            "sql": """
                SELECT count(*) FROM crm_customer c
                WHERE EXISTS (SELECT 1 FROM crm_behaviourevent e
                              WHERE e.customer_id = c.id AND e.kind = 'add_to_cart'
                                AND e.occurred_at > %(week)s AND e.occurred_at <= %(as_of)s)
                  AND NOT EXISTS (SELECT 1 FROM crm_order o
                                  WHERE o.customer_id = c.id AND o.status = 'paid'
                                    AND o.placed_at > %(week)s AND o.placed_at <= %(as_of)s)
            """,
            "params": {"week": week, "as_of": AS_OF},
        },
        {
            "name": "5 nested 3 levels",
            "rules": {
                "all": [
                    {"field": "city", "op": "in", "value": ["Shanghai", "Beijing", "Shenzhen"]},
                    {
                        "any": [
                            {
                                "all": [
                                    {
                                        "field": "order_count",
                                        "op": "gte",
                                        "value": 3,
                                        "window": {"last_days": 180},
                                    },
                                    {
                                        "field": "total_spent",
                                        "op": "gte",
                                        "value": "500",
                                        "window": {"last_days": 180},
                                    },
                                ]
                            },
                            {"field": "tag", "op": "has", "value": "vip"},
                        ]
                    },
                    {"not": {"field": "lifecycle_stage", "op": "eq", "value": "churned"}},
                ]
            },
            "as_of": AS_OF,
            "now": True,
            "sql": """
                SELECT count(*) FROM crm_customer c
                WHERE c.city IN ('Shanghai', 'Beijing', 'Shenzhen')
                  AND c.lifecycle_stage <> 'churned'
                  AND (c.id IN (SELECT o.customer_id FROM crm_order o
                                WHERE o.status = 'paid' AND o.placed_at > %(half_year)s
                                  AND o.placed_at <= %(as_of)s
                                GROUP BY o.customer_id
                                HAVING count(*) >= 3 AND sum(o.amount) >= 500)
                       OR EXISTS (SELECT 1 FROM crm_customer_tags ct
                                  JOIN crm_tag t ON t.id = ct.tag_id
                                  WHERE ct.customer_id = c.id AND t.name = 'vip'))
            """,
            "params": {"half_year": half_year, "as_of": AS_OF},
        },
        {
            "name": "6 NOT bought category",
            "rules": {
                "all": [
                    {"field": "is_member", "op": "eq", "value": True},
                    {
                        "not": {
                            "field": "bought_category",
                            "op": "in",
                            "value": ["tea"],
                            "window": {"last_days": 365},
                        }
                    },
                ]
            },
            "as_of": AS_OF,
            "now": True,
            "sql": """
                SELECT count(*) FROM crm_customer c
                WHERE c.is_member
                  AND NOT EXISTS (SELECT 1 FROM crm_orderitem i
                                  JOIN crm_order o ON o.id = i.order_id
                                  WHERE o.customer_id = c.id AND o.status = 'paid'
                                    AND o.placed_at > %(year)s AND o.placed_at <= %(as_of)s
                                    AND i.category = 'tea')
            """,
            "params": {"year": year, "as_of": AS_OF},
        },
        {
            "name": "7 in_segment",
            "rules": {
                "all": [
                    {"field": "in_segment", "op": "eq", "value": attribute_segment_id},
                    {"field": "days_since_last_order", "op": "lte", "value": 30},
                ]
            },
            "as_of": AS_OF,
            "now": True,
            "sql": """
                SELECT count(*) FROM crm_customer
                WHERE city IN ('Shanghai', 'Beijing') AND member_tier = 'gold'
                  AND gender = 'female'
                  AND last_order_at > %(month_and_day)s AND last_order_at IS NOT NULL
            """,
            "params": {"month_and_day": days_before(AS_OF, 31)},
        },
        {
            "name": "8 as_of in the past",
            "rules": {
                "all": [
                    {"field": "order_count", "op": "gte", "value": 2, "window": {"last_days": 60}},
                    {"field": "days_since_last_order", "op": "lte", "value": 14},
                ]
            },
            "as_of": PAST,
            "now": False,
            "sql": """
                SELECT count(*) FROM (
                    SELECT o.customer_id FROM crm_order o
                    WHERE o.status = 'paid' AND o.placed_at > %(past_60)s
                      AND o.placed_at <= %(past)s
                    GROUP BY o.customer_id
                    HAVING count(*) >= 2 AND max(o.placed_at) > %(past_15)s
                ) qualifying
            """,
            "params": {
                "past": PAST,
                "past_60": days_before(PAST, 60),
                "past_15": days_before(PAST, 15),
            },
        },
        {
            "name": "9 event count",
            "rules": {
                "field": "event_count",
                "op": "gte",
                "value": 5,
                "kind": "visit",
                "window": {"last_days": 30},
            },
            "as_of": AS_OF,
            "now": True,
            "sql": """
                SELECT count(*) FROM (
                    SELECT e.customer_id FROM crm_behaviourevent e
                    WHERE e.kind = 'visit' AND e.occurred_at > %(month)s
                      AND e.occurred_at <= %(as_of)s
                    GROUP BY e.customer_id HAVING count(*) >= 5
                ) qualifying
            """,
            "params": {"month": month, "as_of": AS_OF},
        },
        {
            "name": "10 order_count = 0",
            "rules": {"field": "order_count", "op": "eq", "value": 0},
            "as_of": AS_OF,
            "now": False,
            "sql": """
                SELECT count(*) FROM crm_customer c
                WHERE NOT EXISTS (SELECT 1 FROM crm_order o
                                  WHERE o.customer_id = c.id AND o.status = 'paid'
                                    AND o.placed_at <= %(as_of)s)
            """,
            "params": {"as_of": AS_OF},
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="opscrm_bench")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", help="Run only the rules whose name starts with this.")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each pair.")
    parser.add_argument("--skip-refresh", action="store_true")
    parser.add_argument(
        "--refresh-batch-size",
        type=int,
        help="Refresh with this many members per batch instead of REFRESH_BATCH_SIZE.",
    )
    parser.add_argument(
        "--defaults",
        action="store_true",
        help="Run both at the database's settings instead of the previews' (jit, work_mem).",
    )
    arguments = parser.parse_args()
    dsn = f"{SERVER}/{arguments.database}"
    setup_django(dsn)

    # Django is set up only now: these imports need the settings.
    from django.db import connection, transaction

    from crm.models import Customer
    from segments.compiler import compile_rule_tree
    from segments.models import Segment
    from segments.rules import canonical_rules, parse_rule_tree
    from segments.services import query_settings, refresh

    @contextmanager
    def session():
        """One transaction with the session settings the product's previews use
        (query_settings.SEGMENT_QUERY_SETTINGS), for the product and the SQL alike; or the
        database's defaults with --defaults."""
        with transaction.atomic():
            if not arguments.defaults:
                query_settings.apply_segment_query_settings()
            yield

    print_environment(dsn)
    print(
        "session: "
        + (
            "database defaults"
            if arguments.defaults
            else ", ".join(f"{k}={v}" for k, v in query_settings.SEGMENT_QUERY_SETTINGS.items())
        )
        + " (the same for the product and the SQL)"
    )
    print(
        f"data: {Customer.objects.count():,} customers; AS_OF {AS_OF.isoformat()}, "
        f"past as_of {PAST.isoformat()}"
    )
    Segment.objects.filter(name__startswith=BENCH_PREFIX).delete()
    rules_of_first = reference_rules(0)[0]["rules"]
    attribute_segment = Segment.objects.create(
        name=f"{BENCH_PREFIX}attribute only", rules=canonical_rules(rules_of_first)
    )
    try:
        rows = []
        for rule in reference_rules(attribute_segment.pk):
            if arguments.only and not rule["name"].startswith(arguments.only):
                continue

            def product(rule=rule) -> int:
                # What the preview counts with: parse, compile to one Q, count.
                with session():
                    node = parse_rule_tree(rule["rules"])
                    condition = compile_rule_tree(
                        node, as_of=rule["as_of"], as_of_is_now=rule["now"]
                    )
                    return Customer.objects.filter(condition).count()

            def baseline(rule=rule) -> int:
                with session(), connection.cursor() as cursor:
                    cursor.execute(rule["sql"], rule["params"])
                    return cursor.fetchone()[0]

            # Both answers from one snapshot, so a concurrent writer cannot make them differ.
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                product_count, baseline_count = product(), baseline()
            if product_count != baseline_count:
                raise SystemExit(
                    f"{rule['name']}: product counted {product_count:,}, the SQL {baseline_count:,}"
                )
            if arguments.explain:
                with session():
                    explain(connection, rule, product_sql(rule))
            timings = interleave({"product": product, "sql": baseline}, runs=arguments.runs)
            product_s, sql_s = median(timings["product"]), median(timings["sql"])
            ratio = product_s / sql_s
            target = ATTRIBUTE_TARGET_SECONDS if rule["name"].startswith("1 ") else None
            rows.append(
                {
                    "rule": rule["name"],
                    "count": f"{product_count:,}",
                    "product s": product_s,
                    "sql s": sql_s,
                    "ratio": f"{ratio:.2f}x",
                    "spread": f"{spread(timings['product']):.0%}",
                    "ok": "yes"
                    if ratio <= RATIO_TARGET and product_s < (target or RULE_TARGET_SECONDS)
                    else "NO",
                }
            )
            print(
                f"{rule['name']}: {product_count:,} customers, product {product_s:.3f} s, "
                f"SQL {sql_s:.3f} s, {ratio:.2f}x",
                flush=True,
            )
        print_table(rows, title="Previews: product count vs hand-written SQL (median of runs)")

        if not arguments.skip_refresh:
            if arguments.refresh_batch_size:
                refresh.REFRESH_BATCH_SIZE = arguments.refresh_batch_size
            refresh_table(runs=arguments.runs)
    finally:
        Segment.objects.filter(name__startswith=BENCH_PREFIX).delete()


def spread(values: list[float]) -> float:
    """(max - min) / median of the timed runs: how noisy the machine was."""
    return (max(values) - min(values)) / statistics.median(values)


def product_sql(rule: dict) -> tuple[str, tuple]:
    from crm.models import Customer
    from segments.compiler import compile_rule_tree
    from segments.rules import parse_rule_tree

    node = parse_rule_tree(rule["rules"])
    # No ORDER BY: .count() drops the model's default ordering too.
    query = (
        Customer.objects.filter(
            compile_rule_tree(node, as_of=rule["as_of"], as_of_is_now=rule["now"])
        )
        .order_by()
        .values("pk")
    )
    sql, params = query.query.sql_with_params()
    return f"SELECT count(*) FROM ({sql}) counted", params


def explain(connection, rule: dict, product: tuple[str, tuple]) -> None:
    with connection.cursor() as cursor:
        for label, (sql, params) in (("product", product), ("sql", (rule["sql"], rule["params"]))):
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
            print(f"\n--- {rule['name']}: {label}")
            print("\n".join(line for (line,) in cursor.fetchall()))


def refresh_table(*, runs: int) -> None:
    from django.conf import settings
    from django.db import connection, transaction

    from crm.core.jobs import create_job
    from segments.models import Segment, SegmentMember
    from segments.rules import canonical_rules
    from segments.selectors import REFRESH_JOB_KIND
    from segments.services import query_settings, refresh

    rules = {"field": "registered_at", "op": "before", "value": REGISTERED_BEFORE}
    product_segment = Segment.objects.create(
        name=f"{BENCH_PREFIX}refresh (product)", rules=canonical_rules(rules)
    )
    baseline_segment = Segment.objects.create(
        name=f"{BENCH_PREFIX}refresh (baseline)", rules=canonical_rules(rules)
    )
    # "before 1 July" is before the first instant of 1 July in TIME_ZONE.
    first_instant = datetime.combine(
        date.fromisoformat(REGISTERED_BEFORE), datetime.min.time(), ZoneInfo(settings.TIME_ZONE)
    )
    insert_select = """
        INSERT INTO segments_segmentmember (segment_id, customer_id, added_at)
        SELECT %s, c.id, %s FROM crm_customer c WHERE c.registered_at < %s
    """

    def empty(name: str) -> None:
        # Each starts from an empty member list of its own segment, vacuumed and
        # checkpointed, so both write the same rows from the same state.
        segment = product_segment if name == "product" else baseline_segment
        SegmentMember.objects.filter(segment=segment).delete()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM segments_segmentmember")
            cursor.execute("CHECKPOINT")

    def product() -> None:
        job = create_job(
            kind=REFRESH_JOB_KIND, label=f"Segment #{product_segment.pk} refresh: bench"
        )
        refresh.refresh_segment(segment_id=product_segment.pk, job_id=job.pk, now=AS_OF)

    def baseline() -> None:
        # The same session settings the refresh's member query runs with.
        with transaction.atomic(), connection.cursor() as cursor:
            query_settings.apply_segment_query_settings()
            cursor.execute(insert_select, [baseline_segment.pk, AS_OF, first_instant])

    timings = interleave({"product": product, "sql": baseline}, runs=runs, before_each=empty)
    members = SegmentMember.objects.filter(segment=product_segment).count()
    stored = SegmentMember.objects.filter(segment=product_segment).values("customer_id")
    expected = SegmentMember.objects.filter(segment=baseline_segment).values("customer_id")
    if members != expected.count() or stored.difference(expected).exists():
        raise SystemExit("the refresh and the INSERT ... SELECT stored different members")
    # Steady state: a second refresh with the members already there (nothing to write).
    started = time.perf_counter()
    product()
    steady = time.perf_counter() - started
    product_s, sql_s = median(timings["product"]), median(timings["sql"])
    ratio = product_s / sql_s
    print_table(
        [
            {
                "refresh": f"{members:,} members into an empty list",
                "product s": product_s,
                "sql s": sql_s,
                "ratio": f"{ratio:.2f}x",
                "ok": "yes"
                if ratio <= REFRESH_RATIO_TARGET and product_s < REFRESH_TARGET_SECONDS
                else "NO",
            },
            {
                "refresh": "again, members already there",
                "product s": steady,
                "sql s": float("nan"),
                "ratio": "",
                "ok": "",
            },
        ],
        title=f"Refresh (batch size {refresh.REFRESH_BATCH_SIZE:,}) vs one INSERT ... SELECT",
    )


if __name__ == "__main__":
    main()
