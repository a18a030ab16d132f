"""Benchmark (b): recompute metrics, lifecycle stage and RFM for every customer.

The product, crm.services.metrics.recompute_customer_metrics(as_of=...), against a
hand-written baseline: one UPDATE crm_customer ... FROM (the paid orders grouped by
customer) computing the same columns the same way (quintile edges, ties, time zone), in
the same transaction settings (work_mem). Before each timed run the derived columns of
every buying customer are reset to their empty values, the table is vacuumed and a
checkpoint is taken, so both write the same rows from the same starting state. The
lifecycle stage is not reset: the baseline keeps no stage history, and a nightly run moves
few stages, so the product's stage-change insert does its steady-state work.

Then: a full rerun with nothing new (must write 0 rows), 1% of customers get a new order
and only they are recomputed (target < 3 s), and that rerun writes 0 rows.

Targets: product within 1.5x of the baseline and under 45 s at 1,000,000 customers.

Usage (from the repository root):
    .venv/bin/python -m bench.bench_recompute                  # 1M customers, ~10M orders
    .venv/bin/python -m bench.bench_recompute --customers 50000 # a quick trial

The data (database opscrm_bench) is generated once and reused; a different --customers
regenerates it. Generation time is printed when it happens.
"""

import argparse
import time
from datetime import UTC, datetime, timedelta

import psycopg

from bench.harness import interleave, median, print_environment, print_table, setup_django

SERVER = "postgres://postgres@127.0.0.1:5432"
DATABASE = "opscrm_bench"
AS_OF = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
SEED = 42
PRODUCT_TARGET_SECONDS = 45.0
RATIO_TARGET = 1.5
INCREMENTAL_TARGET_SECONDS = 3.0
# Every 100th customer gets a new order: 1% of them.
INCREMENTAL_EVERY = 100
BENCH_ORDER_PREFIX = "BENCH-"

DERIVED_COLUMNS = (
    "first_order_at",
    "last_order_at",
    "order_count",
    "total_spent",
    "avg_order_value",
    "is_returning",
    "value_tier",
    "lifecycle_stage",
    "preferred_category",
    "promotion_sensitivity",
    "preferred_channel",
    "weekend_buyer",
    "usual_daypart",
    "rfm_recency",
    "rfm_frequency",
    "rfm_monetary",
    "rfm_group",
)

RESET_SQL = """
UPDATE crm_customer SET
    first_order_at = NULL, last_order_at = NULL, order_count = 0, total_spent = 0,
    avg_order_value = NULL, is_returning = FALSE, value_tier = 'none',
    preferred_category = '', promotion_sensitivity = NULL, preferred_channel = '',
    weekend_buyer = NULL, usual_daypart = '', rfm_recency = NULL, rfm_frequency = NULL,
    rfm_monetary = NULL, rfm_group = ''
WHERE order_count <> 0 OR value_tier <> 'none'
"""

# The baseline: what a careful engineer writes by hand for PostgreSQL, one statement.
BASELINE_SQL = """
WITH paid AS (
    SELECT o.id, o.customer_id, o.placed_at, o.amount, o.channel, o.coupon_code
    FROM crm_order o
    WHERE o.status = 'paid' AND o.placed_at <= %(as_of)s
),
totals AS (
    SELECT customer_id,
           MIN(placed_at) AS first_order_at,
           MAX(placed_at) AS last_order_at,
           COUNT(*) AS order_count,
           SUM(amount) AS total_spent,
           COUNT(*) FILTER (WHERE placed_at > %(window_start)s) AS recent_orders,
           COUNT(*) FILTER (
               WHERE placed_at > %(previous_start)s AND placed_at <= %(window_start)s
           ) AS previous_orders,
           COUNT(*) FILTER (WHERE coupon_code <> '') AS coupon_orders,
           COUNT(*) FILTER (
               WHERE EXTRACT(ISODOW FROM placed_at AT TIME ZONE %(tz)s) >= 6
           ) AS weekend_orders
    FROM paid
    GROUP BY customer_id
),
channels AS (
    SELECT DISTINCT ON (customer_id) customer_id, channel
    FROM paid
    WHERE channel <> ''
    GROUP BY customer_id, channel
    ORDER BY customer_id, COUNT(*) DESC, MAX(placed_at) DESC, channel
),
dayparts AS (
    SELECT DISTINCT ON (customer_id) customer_id, daypart
    FROM (
        SELECT customer_id, placed_at,
               CASE WHEN hour BETWEEN 5 AND 11 THEN 'morning'
                    WHEN hour BETWEEN 12 AND 17 THEN 'afternoon'
                    WHEN hour BETWEEN 18 AND 22 THEN 'evening'
                    ELSE 'night' END AS daypart
        FROM (
            SELECT customer_id, placed_at,
                   EXTRACT(HOUR FROM placed_at AT TIME ZONE %(tz)s) AS hour
            FROM paid
        ) hours
    ) local_orders
    GROUP BY customer_id, daypart
    ORDER BY customer_id, COUNT(*) DESC, MAX(placed_at) DESC, daypart
),
categories AS (
    SELECT DISTINCT ON (p.customer_id) p.customer_id, i.category
    FROM paid p JOIN crm_orderitem i ON i.order_id = p.id
    WHERE i.category <> ''
    GROUP BY p.customer_id, i.category
    ORDER BY p.customer_id, SUM(i.quantity * i.unit_price) DESC, i.category
),
edges AS MATERIALIZED (
    SELECT
        (SELECT array_agg(edge ORDER BY tile) FROM (
            SELECT tile, MIN(last_order_at) AS edge FROM (
                SELECT last_order_at, NTILE(5) OVER (ORDER BY last_order_at DESC) AS tile
                FROM totals) t GROUP BY tile) e) AS r,
        (SELECT array_agg(edge ORDER BY tile) FROM (
            SELECT tile, MAX(order_count) AS edge FROM (
                SELECT order_count, NTILE(5) OVER (ORDER BY order_count) AS tile
                FROM totals) t GROUP BY tile) e) AS f,
        (SELECT array_agg(edge ORDER BY tile) FROM (
            SELECT tile, MAX(total_spent) AS edge FROM (
                SELECT total_spent, NTILE(5) OVER (ORDER BY total_spent) AS tile
                FROM totals) t GROUP BY tile) e) AS m
),
scored AS (
    SELECT t.*,
           5 - ((t.last_order_at < e.r[1])::int + (t.last_order_at < e.r[2])::int
                + (t.last_order_at < e.r[3])::int + (t.last_order_at < e.r[4])::int)
               AS rfm_recency,
           1 + ((t.order_count > e.f[1])::int + (t.order_count > e.f[2])::int
                + (t.order_count > e.f[3])::int + (t.order_count > e.f[4])::int)
               AS rfm_frequency,
           1 + ((t.total_spent > e.m[1])::int + (t.total_spent > e.m[2])::int
                + (t.total_spent > e.m[3])::int + (t.total_spent > e.m[4])::int)
               AS rfm_monetary
    FROM totals t CROSS JOIN edges e
)
UPDATE crm_customer c SET
    first_order_at = s.first_order_at,
    last_order_at = s.last_order_at,
    order_count = s.order_count,
    total_spent = s.total_spent,
    avg_order_value = ROUND(s.total_spent / s.order_count, 2),
    is_returning = s.order_count >= 2,
    value_tier = CASE WHEN s.total_spent >= %(high_value)s THEN 'high'
                      WHEN s.total_spent >= %(medium_value)s THEN 'medium'
                      ELSE 'low' END,
    lifecycle_stage = CASE WHEN s.last_order_at < %(churn_before)s THEN 'churned'
                           WHEN s.last_order_at < %(silent_before)s THEN 'silent'
                           WHEN s.first_order_at > %(new_after)s THEN 'new'
                           WHEN s.recent_orders >= %(mature_orders)s THEN 'mature'
                           WHEN s.recent_orders < s.previous_orders THEN 'declining'
                           ELSE 'growing' END,
    preferred_category = COALESCE(cat.category, ''),
    promotion_sensitivity = ROUND(s.coupon_orders::numeric / s.order_count, 4),
    preferred_channel = COALESCE(ch.channel, ''),
    weekend_buyer = s.weekend_orders * 2 > s.order_count,
    usual_daypart = COALESCE(dp.daypart, ''),
    rfm_recency = s.rfm_recency,
    rfm_frequency = s.rfm_frequency,
    rfm_monetary = s.rfm_monetary,
    rfm_group = CASE WHEN s.rfm_recency <= 2 AND s.rfm_frequency <= 2 THEN 'hibernating'
                     WHEN s.rfm_recency <= 2 AND s.rfm_frequency <= 4 THEN 'at_risk'
                     WHEN s.rfm_recency <= 2 THEN 'cant_lose'
                     WHEN s.rfm_recency = 3 AND s.rfm_frequency <= 2 THEN 'about_to_sleep'
                     WHEN s.rfm_recency = 3 AND s.rfm_frequency = 3 THEN 'need_attention'
                     WHEN s.rfm_recency <= 4 AND s.rfm_frequency >= 4 THEN 'loyal'
                     WHEN s.rfm_recency = 4 AND s.rfm_frequency = 1 THEN 'promising'
                     WHEN s.rfm_recency = 5 AND s.rfm_frequency = 1 THEN 'new_customers'
                     WHEN s.rfm_frequency <= 3 THEN 'potential_loyalist'
                     ELSE 'champions' END,
    updated_at = %(as_of)s
FROM scored s
LEFT JOIN channels ch ON ch.customer_id = s.customer_id
LEFT JOIN dayparts dp ON dp.customer_id = s.customer_id
LEFT JOIN categories cat ON cat.customer_id = s.customer_id
WHERE c.id = s.customer_id
"""

# One new paid order (with one item) for every INCREMENTAL_EVERY-th customer, an hour
# before as_of.
INSERT_NEW_ORDERS_SQL = """
WITH new_orders AS (
    INSERT INTO crm_order (created_at, updated_at, order_id, customer_id, placed_at, amount,
                           channel, store, city, status, coupon_code)
    SELECT %(placed_at)s, %(placed_at)s, %(prefix)s || c.id, c.id, %(placed_at)s, 59.90,
           'app', '', c.city, 'paid', ''
    FROM crm_customer c WHERE c.id %% %(every)s = 0
    RETURNING id, placed_at
)
INSERT INTO crm_orderitem (created_at, updated_at, order_id, sku, category, quantity, unit_price)
SELECT placed_at, placed_at, id, 'DF-MANGO-200', 'dried_fruit', 1, 59.90 FROM new_orders
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each case (5)")
    args = parser.parse_args()

    dsn = f"{SERVER}/{DATABASE}"
    _create_database()
    setup_django(dsn)
    print_environment(dsn)
    _ensure_data(customers=args.customers)

    from django.db import connection, transaction

    from crm.services import metrics

    _remove_bench_orders()
    _vacuum_analyze("crm_customer", "crm_order", "crm_orderitem")

    parameters = _baseline_parameters(metrics)

    def product():
        return metrics.recompute_customer_metrics(as_of=AS_OF)

    def baseline():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL work_mem = '{metrics.RECOMPUTE_WORK_MEM}'")
            cursor.execute(BASELINE_SQL, parameters)
            return cursor.rowcount

    def reset(_name: str = "") -> None:
        with connection.cursor() as cursor:
            cursor.execute(RESET_SQL)
        _vacuum_analyze("crm_customer")
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")

    # Same results first: the baseline must compute what the product computes.
    reset()
    product_result = product()
    _snapshot_derived_columns()
    reset()
    baseline_rows = baseline()
    differing = _customers_differing_from_snapshot()
    print(
        f"\nproduct wrote {product_result.customers_updated:,} customers, baseline "
        f"{baseline_rows:,}; customers whose derived columns differ: {differing:,}"
    )

    timings = interleave(
        {"product": product, "baseline": baseline}, runs=args.runs, warmup=1, before_each=reset
    )
    product_median, baseline_median = median(timings["product"]), median(timings["baseline"])
    ratio = product_median / baseline_median

    # Nothing new since the last run: nothing to write.
    product()
    started = time.perf_counter()
    rerun = product()
    rerun_seconds = time.perf_counter() - started

    # 1% of customers get a new order; recompute only them.
    with connection.cursor() as cursor:
        cursor.execute(
            INSERT_NEW_ORDERS_SQL,
            {
                "placed_at": AS_OF - timedelta(hours=1),
                "prefix": BENCH_ORDER_PREFIX,
                "every": INCREMENTAL_EVERY,
            },
        )
        cursor.execute(
            "SELECT customer_id FROM crm_order WHERE order_id LIKE %s",
            [BENCH_ORDER_PREFIX + "%"],
        )
        changed_ids = [row[0] for row in cursor.fetchall()]
        cursor.execute("ANALYZE crm_order")
    started = time.perf_counter()
    incremental = metrics.recompute_customer_metrics(as_of=AS_OF, customer_ids=changed_ids)
    incremental_seconds = time.perf_counter() - started
    started = time.perf_counter()
    incremental_rerun = metrics.recompute_customer_metrics(as_of=AS_OF, customer_ids=changed_ids)
    incremental_rerun_seconds = time.perf_counter() - started

    # Leave the data as generated.
    _remove_bench_orders()
    metrics.recompute_customer_metrics(as_of=AS_OF, customer_ids=changed_ids)

    rows = [
        _timing_row("product: recompute_customer_metrics", timings["product"]),
        _timing_row("baseline: one hand-written UPDATE", timings["baseline"]),
    ]
    print_table(rows, title=f"Full recompute, {args.customers:,} customers (seconds)")
    print_table(
        [
            {
                "check": f"product / baseline (target <= {RATIO_TARGET})",
                "value": f"{ratio:.2f}x",
                "met": ratio <= RATIO_TARGET,
            },
            {
                "check": f"product median (target < {PRODUCT_TARGET_SECONDS:.0f} s)",
                "value": f"{product_median:.1f} s",
                "met": product_median < PRODUCT_TARGET_SECONDS,
            },
            {
                "check": "full rerun with nothing new: rows written (target 0)",
                "value": f"{rerun.customers_updated} rows in {rerun_seconds:.1f} s",
                "met": rerun.customers_updated == 0,
            },
            {
                "check": (
                    f"incremental, {len(changed_ids):,} customers with a new order "
                    f"(target < {INCREMENTAL_TARGET_SECONDS:.0f} s)"
                ),
                "value": (
                    f"{incremental_seconds:.2f} s, {incremental.customers_updated:,} rows, "
                    f"{incremental.stage_changes:,} stage changes"
                ),
                "met": incremental_seconds < INCREMENTAL_TARGET_SECONDS,
            },
            {
                "check": "incremental rerun: rows written (target 0)",
                "value": (
                    f"{incremental_rerun.customers_updated} rows in "
                    f"{incremental_rerun_seconds:.2f} s"
                ),
                "met": incremental_rerun.customers_updated == 0,
            },
            {
                "check": "baseline computes the same values (customers differing)",
                "value": str(differing),
                "met": differing == 0,
            },
        ],
        title="Targets",
    )


def _timing_row(case: str, seconds: list[float]) -> dict:
    return {
        "case": case,
        "median": median(seconds),
        "min": min(seconds),
        "max": max(seconds),
        "runs": " ".join(f"{s:.1f}" for s in seconds),
    }


def _create_database() -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as server:
        exists = server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE])
        if exists.fetchone() is None:
            server.execute(f"CREATE DATABASE {DATABASE}")


def _ensure_data(*, customers: int) -> None:
    """Migrate, and generate the demo data unless exactly `customers` are already there."""
    from django.core.management import call_command
    from django.db import connection

    from crm.models import Customer
    from demo.customers import generate_demo_data

    call_command("migrate", verbosity=0)
    existing = Customer.objects.count()
    if existing == customers:
        print(f"data: reusing {customers:,} customers in {DATABASE}")
        return
    if existing:
        print(f"data: {existing:,} customers in {DATABASE}, regenerating {customers:,}")
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE crm_customer, crm_order, crm_orderitem, crm_behaviourevent, "
                "crm_identity, crm_customer_tags, crm_stagechange, crm_rfmbreakpoints CASCADE"
            )
    started = time.perf_counter()
    summary = generate_demo_data(customers=customers, seed=SEED, as_of=AS_OF)
    elapsed = time.perf_counter() - started
    print(
        f"data: generated {summary.customers:,} customers, {summary.orders:,} orders, "
        f"{summary.order_items:,} items, {summary.events:,} events, "
        f"{summary.identities:,} identities in {elapsed:.0f} s (including the first "
        "full recompute)"
    )
    started = time.perf_counter()
    _vacuum_analyze()
    print(f"data: VACUUM ANALYZE in {time.perf_counter() - started:.0f} s")


def _vacuum_analyze(*tables: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")


def _remove_bench_orders() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM crm_orderitem WHERE order_id IN "
            "(SELECT id FROM crm_order WHERE order_id LIKE %s)",
            [BENCH_ORDER_PREFIX + "%"],
        )
        cursor.execute("DELETE FROM crm_order WHERE order_id LIKE %s", [BENCH_ORDER_PREFIX + "%"])


def _baseline_parameters(metrics) -> dict:
    lifecycle = metrics.current_lifecycle_settings()
    window = timedelta(days=lifecycle.window_days)
    from django.conf import settings

    return {
        "as_of": AS_OF,
        "tz": settings.TIME_ZONE,
        "churn_before": AS_OF - timedelta(days=lifecycle.churn_days),
        "silent_before": AS_OF - timedelta(days=lifecycle.silent_days),
        "new_after": AS_OF - timedelta(days=lifecycle.new_days),
        "window_start": AS_OF - window,
        "previous_start": AS_OF - 2 * window,
        "mature_orders": lifecycle.mature_orders,
        "high_value": lifecycle.high_value_min_spent,
        "medium_value": lifecycle.medium_value_min_spent,
    }


def _snapshot_derived_columns() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_product_metrics")
        cursor.execute(
            "CREATE UNLOGGED TABLE bench_product_metrics AS "
            f"SELECT id, {', '.join(DERIVED_COLUMNS)} FROM crm_customer"
        )


def _customers_differing_from_snapshot() -> int:
    from django.db import connection

    computed = ", ".join(f"c.{column}" for column in DERIVED_COLUMNS)
    snapshot = ", ".join(f"p.{column}" for column in DERIVED_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM crm_customer c JOIN bench_product_metrics p USING (id) "
            f"WHERE ROW({computed}) IS DISTINCT FROM ROW({snapshot})"
        )
        differing = cursor.fetchone()[0]
        cursor.execute("DROP TABLE bench_product_metrics")
    return differing


if __name__ == "__main__":
    main()
