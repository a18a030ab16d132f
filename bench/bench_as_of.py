"""Benchmark: order-derived labels as of a past date, against hand-written SQL.

Three questions about 1 March 2026 on the 1M-customer / 10M-order database, each counted by
the product (the rule tree parsed, compiled to one Q, counted, in the previews' session
settings) and by hand-written SQL answering the same question from the same definitions
(README, "Customer data"); both counts are checked equal first, then timed interleaved,
median of 5:
- stage as of a past date: who was `declining` (the rule that needs every other rule first);
- RFM group as of a past date: who were `champions`, with that day's quintile edges;
- a 3-condition rule: a past stage (growing or mature), 2+ paid orders in the last 90 days,
  and weekend buyers.
Targets: each within 1.5x of its SQL and under 5 s.

Usage (from the repository root):
    .venv/bin/python -m bench.bench_as_of                  # database opscrm_bench
    .venv/bin/python -m bench.bench_as_of --explain        # EXPLAIN ANALYZE both
"""

import argparse
from datetime import UTC, datetime, timedelta

from bench.harness import interleave, median, print_environment, print_table, setup_django

SERVER = "postgres://postgres@127.0.0.1:5432"
PAST = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RATIO_TARGET = 1.5
TARGET_SECONDS = 5.0
DAY = timedelta(days=1)

# The defaults of the lifecycle settings (the benchmark database keeps them).
CHURN, SILENT, NEW, MATURE, WINDOW = 90, 30, 30, 5, 30

STAGE_SQL = """
SELECT count(*) FROM (
    SELECT o.customer_id FROM crm_order o
    WHERE o.status = 'paid' AND o.placed_at <= %(past)s
    GROUP BY o.customer_id
    HAVING max(o.placed_at) >= %(silent)s
       AND min(o.placed_at) <= %(new)s
       AND count(*) FILTER (WHERE o.placed_at > %(window)s) < %(mature)s
       AND count(*) FILTER (WHERE o.placed_at > %(window)s)
         < count(*) FILTER (WHERE o.placed_at > %(previous)s AND o.placed_at <= %(window)s)
) declining
"""

RFM_SQL = """
WITH totals AS MATERIALIZED (
    SELECT customer_id, max(placed_at) AS last, count(*) AS n, sum(amount) AS spent
    FROM crm_order WHERE status = 'paid' AND placed_at <= %(past)s GROUP BY customer_id
),
r AS (SELECT tile, min(last) AS edge FROM (
        SELECT last, ntile(5) OVER (ORDER BY last DESC) AS tile FROM totals) t GROUP BY tile),
f AS (SELECT tile, max(n) AS edge FROM (
        SELECT n, ntile(5) OVER (ORDER BY n) AS tile FROM totals) t GROUP BY tile),
edges AS (
    SELECT (SELECT edge FROM r WHERE tile = 1) r1, (SELECT edge FROM r WHERE tile = 2) r2,
           (SELECT edge FROM r WHERE tile = 3) r3, (SELECT edge FROM r WHERE tile = 4) r4,
           (SELECT edge FROM f WHERE tile = 1) f1, (SELECT edge FROM f WHERE tile = 2) f2,
           (SELECT edge FROM f WHERE tile = 3) f3, (SELECT edge FROM f WHERE tile = 4) f4
)
SELECT count(*) FROM totals, edges
WHERE 5 - ((last < r1)::int + (last < r2)::int + (last < r3)::int + (last < r4)::int) = 5
  AND 1 + ((n > f1)::int + (n > f2)::int + (n > f3)::int + (n > f4)::int) >= 4
"""

THREE_SQL = """
SELECT count(*) FROM (
    SELECT o.customer_id FROM crm_order o
    WHERE o.status = 'paid' AND o.placed_at <= %(past)s
    GROUP BY o.customer_id
    HAVING max(o.placed_at) >= %(silent)s
       AND min(o.placed_at) <= %(new)s
       AND (count(*) FILTER (WHERE o.placed_at > %(window)s) >= %(mature)s
            OR count(*) FILTER (WHERE o.placed_at > %(window)s)
               >= count(*) FILTER (WHERE o.placed_at > %(previous)s AND o.placed_at <= %(window)s))
       AND count(*) FILTER (WHERE o.placed_at > %(quarter)s) >= 2
       AND count(*) FILTER (
             WHERE date_part('isodow', o.placed_at AT TIME ZONE 'Asia/Shanghai') >= 6) * 2
           > count(*)
) chosen
"""


def questions() -> list[dict]:
    params = {
        "past": PAST,
        "silent": PAST - SILENT * DAY,
        "new": PAST - NEW * DAY,
        "window": PAST - WINDOW * DAY,
        "previous": PAST - 2 * WINDOW * DAY,
        "mature": MATURE,
        "quarter": PAST - 90 * DAY,
    }
    return [
        {
            "name": "stage as of a past date (declining)",
            "rules": {"field": "lifecycle_stage", "op": "eq", "value": "declining"},
            "sql": STAGE_SQL,
            "params": params,
        },
        {
            "name": "RFM group as of a past date (champions)",
            "rules": {"field": "rfm_group", "op": "eq", "value": "champions"},
            "sql": RFM_SQL,
            "params": params,
        },
        {
            "name": "past stage + 2 orders in 90 days + weekend buyer",
            "rules": {
                "all": [
                    {"field": "lifecycle_stage", "op": "in", "value": ["growing", "mature"]},
                    {
                        "field": "order_count",
                        "op": "gte",
                        "value": 2,
                        "window": {"last_days": 90},
                    },
                    {"field": "weekend_buyer", "op": "eq", "value": True},
                ]
            },
            "sql": THREE_SQL,
            "params": params,
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="opscrm_bench")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", help="Run only the questions whose name starts with this.")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each pair.")
    arguments = parser.parse_args()
    dsn = f"{SERVER}/{arguments.database}"
    setup_django(dsn)

    # Django is set up only now: these imports need the settings.
    from django.db import connection, transaction

    from crm.models import Customer
    from segments.compiler import compile_rule_tree
    from segments.rules import parse_rule_tree
    from segments.services import query_settings

    print_environment(dsn)
    print(
        "session: "
        + ", ".join(f"{k}={v}" for k, v in query_settings.SEGMENT_QUERY_SETTINGS.items())
        + f" (the same for the product and the SQL); past as_of {PAST.isoformat()}"
    )
    rows = []
    for question in questions():
        if arguments.only and not question["name"].startswith(arguments.only):
            continue
        node = parse_rule_tree(question["rules"])

        def product(node=node) -> int:
            with transaction.atomic():
                query_settings.apply_segment_query_settings()
                return Customer.objects.filter(compile_rule_tree(node, as_of=PAST)).count()

        def baseline(question=question) -> int:
            with transaction.atomic(), connection.cursor() as cursor:
                query_settings.apply_segment_query_settings()
                cursor.execute(question["sql"], question["params"])
                return cursor.fetchone()[0]

        product_count, baseline_count = product(), baseline()
        if product_count != baseline_count:
            raise SystemExit(
                f"{question['name']}: product {product_count:,}, SQL {baseline_count:,}"
            )
        if arguments.explain:
            with transaction.atomic(), connection.cursor() as cursor:
                query_settings.apply_segment_query_settings()
                queryset = Customer.objects.filter(compile_rule_tree(node, as_of=PAST))
                sql, params = queryset.query.sql_with_params()
                for label, text, values in (
                    ("product", f"SELECT count(*) FROM ({sql}) q", params),
                    ("sql", question["sql"], question["params"]),
                ):
                    cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {text}", values)
                    print(f"--- {label}\n" + "\n".join(row[0] for row in cursor.fetchall()))
        timings = interleave({"product": product, "sql": baseline}, runs=arguments.runs)
        product_s, sql_s = median(timings["product"]), median(timings["sql"])
        ratio = product_s / sql_s
        rows.append(
            {
                "question": question["name"],
                "count": f"{product_count:,}",
                "product s": product_s,
                "sql s": sql_s,
                "ratio": f"{ratio:.2f}x",
                "ok": "yes" if ratio <= RATIO_TARGET and product_s < TARGET_SECONDS else "NO",
            }
        )
        print(
            f"{question['name']}: {product_count:,}, product {product_s:.3f} s, "
            f"SQL {sql_s:.3f} s, {ratio:.2f}x",
            flush=True,
        )
    print_table(rows, title="As of a past date: product count vs hand-written SQL (median)")


if __name__ == "__main__":
    main()
