"""Benchmark: CSV order import (crm.services.imports) against a hand-written COPY baseline.

Not a test. Generates a reproducible orders CSV (default 1,000,000 orders over 250,000
customers; `--orders N` for a smaller run) and imports it into a dedicated database
(opscrm_bench_import, created and migrated on first use):

- product   import_csv_file(kind="orders") exactly as `manage.py import_orders` runs it:
            parse and validate every row in Python, COPY each batch into a staging table,
            create the unknown customers (as placeholders), upsert the orders with
            ON CONFLICT ... DO UPDATE ... WHERE IS DISTINCT FROM, update the job row per
            batch, and at the end recompute the imported customers' metrics
            (crm.services.metrics; its share is printed on its own line).
- baseline  what a DBA would type for a one-off load into the same indexed tables: COPY
            the file into a TEMP staging table of text columns, then in one transaction a
            plain INSERT ... SELECT DISTINCT of the customers and a plain INSERT ... SELECT
            of the orders (timestamps read in TIME_ZONE, thousands separators stripped,
            blank status = paid). No validation, no per-row error report, no idempotence
            (it fails on a second run), no metrics.

The two run interleaved (harness.interleave) after a warm-up, with the customer-data
tables truncated before each run; medians of `--runs` runs are reported. Then the product
imports the same file again into the loaded tables: it must add 0 rows, and its time is
compared with the first import (target <= 1.5x). Last, into emptied tables, one more
import and right after it a segment preview ("no paid order as of 1 July 2025": a past
as_of, so rebuilt from the orders) run twice: the first preview after an import must be
within 1.5x of the same preview again (fresh planner statistics, crm.services.statistics).

    .venv/bin/python bench/bench_import.py                 # full size
    .venv/bin/python bench/bench_import.py --orders 100000 --runs 3
"""

import argparse
import csv
import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import interleave, median, print_environment, print_table, setup_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/opscrm_bench_import"
SEED = 20260630
CITIES = ("Shanghai", "Beijing", "Shenzhen", "Guangzhou", "Hangzhou", "Chengdu", "Wuhan")
CHANNELS = ("app", "app", "mini_program", "web", "store")
STATUSES = ("paid",) * 90 + ("refunded",) * 7 + ("cancelled",) * 3
CUSTOMER_TABLES = (
    "crm_orderitem",
    "crm_order",
    "crm_behaviourevent",
    "crm_identity",
    "crm_customer_tags",
    "crm_stagechange",
    "crm_customer",
    "crm_rfmbreakpoints",
)


def generate_orders_csv(path: Path, *, orders: int, customers: int) -> None:
    """A reproducible orders file in the formats marketers send: local datetimes without
    offset (most), with an offset, date-only; amounts with thousands separators."""
    rng = random.Random(SEED)
    start = datetime(2025, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    span = int(timedelta(days=545).total_seconds())
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["order_id", "customer_id", "placed_at", "amount", "channel", "store", "city", "status"]
        )
        for number in range(1, orders + 1):
            moment = start + timedelta(seconds=rng.randrange(span))
            style = rng.random()
            if style < 0.8:
                placed_at = moment.strftime("%Y-%m-%d %H:%M:%S")
            elif style < 0.95:
                placed_at = moment.isoformat()
            else:
                placed_at = moment.strftime("%Y-%m-%d")
            amount = rng.randrange(500, 300_000) / 100
            channel = rng.choice(CHANNELS)
            writer.writerow(
                [
                    f"O{number:09d}",
                    f"C{rng.randrange(1, customers + 1):07d}",
                    placed_at,
                    f"{amount:,.2f}",
                    channel,
                    f"S{rng.randrange(1, 201):03d}" if channel == "store" else "",
                    rng.choice(CITIES),
                    rng.choice(STATUSES),
                ]
            )


def ensure_database(url: str) -> None:
    """Create the benchmark database if it does not exist (migrations run later)."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    server = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if exists.fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')


def truncate() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(CUSTOMER_TABLES)} RESTART IDENTITY CASCADE")
        cursor.execute("DELETE FROM core_job")
        cursor.execute("VACUUM ANALYZE crm_customer")
        cursor.execute("VACUUM ANALYZE crm_order")


def run_product(path: Path, now: datetime):
    from crm.enums import ImportKind
    from crm.services.imports import runs

    return runs.import_csv_file(kind=ImportKind.ORDERS, path=path, now=now)


def run_baseline(path: Path, now: datetime) -> None:
    """COPY into a staging table, then plain INSERT ... SELECT into the indexed tables."""
    from django.conf import settings
    from django.db import connection, transaction

    from crm.services.identities import customer_insert_defaults

    columns, params = customer_insert_defaults(exclude={"customer_id"})
    params["now"] = now
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL TIME ZONE '{settings.TIME_ZONE}'")
        cursor.execute(
            """
            CREATE TEMP TABLE baseline_orders (
                order_id text, customer_id text, placed_at text, amount text,
                channel text, store text, city text, status text
            ) ON COMMIT DROP
            """
        )
        with (
            path.open("rb") as handle,
            cursor.copy(
                "COPY baseline_orders FROM STDIN (FORMAT csv, HEADER true,"
                " FORCE_NOT_NULL (channel, store, city, status))"
            ) as copy,
        ):
            while chunk := handle.read(1 << 20):
                copy.write(chunk)
        cursor.execute(
            f"""
            INSERT INTO crm_customer (customer_id, created_at, updated_at, {", ".join(columns)})
            SELECT customer_id, %(now)s, %(now)s,
                   {", ".join(f"%(default_{column})s" for column in columns)}
            FROM (SELECT DISTINCT customer_id FROM baseline_orders) s
            """,
            params,
        )
        cursor.execute(
            """
            INSERT INTO crm_order (order_id, customer_id, placed_at, amount, channel, store,
                                   city, status, coupon_code, created_at, updated_at)
            SELECT s.order_id, c.id, s.placed_at::timestamptz,
                   replace(s.amount, ',', '')::numeric(12, 2), s.channel, s.store, s.city,
                   COALESCE(NULLIF(s.status, ''), 'paid'), '', %(now)s, %(now)s
            FROM baseline_orders s JOIN crm_customer c ON c.customer_id = s.customer_id
            """,
            {"now": now},
        )


def time_metrics_recompute() -> list[float]:
    """Record how long each import spends in crm.services.metrics (not ours to speed up;
    the baseline has no metrics), by wrapping the function the importer calls."""
    from crm.services.imports import runs

    seconds: list[float] = []
    recompute = runs.recompute_customer_metrics

    def timed(**kwargs):
        started = time.perf_counter()
        try:
            return recompute(**kwargs)
        finally:
            seconds.append(time.perf_counter() - started)

    runs.recompute_customer_metrics = timed
    return seconds


def time_preview() -> tuple[int, float]:
    """A segment preview as the builder runs it: one rule as of a past date, counted."""
    from django.db import transaction

    from crm.models import Customer
    from segments.compiler import compile_rule_tree
    from segments.rules import parse_rule_tree
    from segments.services import query_settings

    node = parse_rule_tree({"field": "order_count", "op": "eq", "value": 0})
    as_of = datetime(2025, 7, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    started = time.perf_counter()
    with transaction.atomic():
        query_settings.apply_segment_query_settings()
        count = Customer.objects.filter(compile_rule_tree(node, as_of=as_of)).count()
    return count, time.perf_counter() - started


def count_rows() -> tuple[int, int]:
    from crm.models import Customer, Order

    return Customer.objects.count(), Order.objects.count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=None, help="default: orders / 4")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--file", type=Path, default=None, help="default: var/bench/...")
    args = parser.parse_args()
    customers = args.customers or max(args.orders // 4, 1)

    ensure_database(args.database_url)
    setup_django(args.database_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print_environment(args.database_url)

    path = args.file or Path("var/bench") / f"orders_{args.orders}_{customers}.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        generate_orders_csv(path, orders=args.orders, customers=customers)
        print(f"generated {path} in {time.perf_counter() - started:.1f} s")
    print(f"file: {path}, {path.stat().st_size / 1e6:.1f} MB, {args.orders:,} orders")
    now = datetime(2026, 6, 30, 12, 0, tzinfo=ZoneInfo("UTC"))
    metrics_seconds = time_metrics_recompute()

    timings = interleave(
        {"product": lambda: run_product(path, now), "baseline": lambda: run_baseline(path, now)},
        runs=args.runs,
        warmup=args.warmup,
        before_each=lambda _name: truncate(),
    )
    loaded = count_rows()
    product, baseline = median(timings["product"]), median(timings["baseline"])
    # One recompute per product run (the warm-up's first); re-imports touch nobody.
    recomputes = metrics_seconds[args.warmup :]
    without_metrics = median(
        [total - metrics for total, metrics in zip(timings["product"], recomputes, strict=True)]
    )

    # The interleaved runs end with the baseline's load: load once with the product, then
    # time re-imports of the same file into the loaded tables.
    truncate()
    run_product(path, now)
    before = count_rows()
    reimports = []
    for _ in range(max(args.runs, 1)):
        started = time.perf_counter()
        result = run_product(path, now)
        reimports.append(time.perf_counter() - started)
    after = count_rows()
    reimport = median(reimports)

    # The first preview after an import, against the same preview again.
    truncate()
    run_product(path, now)
    first_count, first_preview = time_preview()
    again_count, again_preview = time_preview()
    if first_count != again_count:
        sys.exit("FAIL: the two previews counted differently")

    rows = [
        {
            "case": "product import",
            "median s": product,
            "rows/s": f"{args.orders / product:,.0f}",
            "ratio": f"{product / baseline:.2f}x baseline",
            "runs": " ".join(f"{t:.1f}" for t in timings["product"]),
        },
        {
            "case": "  of which metrics recompute",
            "median s": median(recomputes),
            "rows/s": "",
            "ratio": "",
            "runs": " ".join(f"{t:.1f}" for t in recomputes),
        },
        {
            "case": "  product without it",
            "median s": without_metrics,
            "rows/s": f"{args.orders / without_metrics:,.0f}",
            "ratio": f"{without_metrics / baseline:.2f}x baseline",
            "runs": "",
        },
        {
            "case": "baseline COPY+INSERT",
            "median s": baseline,
            "rows/s": f"{args.orders / baseline:,.0f}",
            "ratio": "1.00x",
            "runs": " ".join(f"{t:.1f}" for t in timings["baseline"]),
        },
        {
            "case": "product re-import",
            "median s": reimport,
            "rows/s": f"{args.orders / reimport:,.0f}",
            "ratio": f"{reimport / product:.2f}x first import",
            "runs": " ".join(f"{t:.1f}" for t in reimports),
        },
    ]
    print_table(rows, title=f"Import of {args.orders:,} orders over {customers:,} customers")
    print(f"\nrows after a run: {loaded[0]:,} customers, {loaded[1]:,} orders")
    print(
        f"re-import: customers {before[0]:,} -> {after[0]:,}, orders {before[1]:,} -> "
        f"{after[1]:,}; last re-import: {result.summary()}"
    )
    print(
        f"first preview after the import: {first_preview:.3f} s, again {again_preview:.3f} s "
        f"({first_preview / again_preview:.2f}x, target <= 1.5x); {first_count:,} customers"
    )
    if after != before or result.created or result.updated:
        sys.exit("FAIL: the re-import changed rows")


if __name__ == "__main__":
    main()
