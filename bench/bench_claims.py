"""Benchmark (c): the claim API, POST /api/v1/claims/, under load (issue: Campaigns I).

gunicorn (gthread workers, DEBUG off, persistent connections) serves the API on loopback
against the bench database (1,000,000 customers). A running campaign whose audience is a
dynamic segment matching every customer (by a stored column, order_count >= 0, or with
--audience windowed by a paid order count over a window holding the data's last 30 days)
grants one coupon per claim;
every request names a distinct customer and idempotency key, so every request is a real
grant through the whole engine (locks, counters, coupon, ledger, anti-harassment checks).

Scenarios, interleaved run by run, medians reported:
- closed loop, 16 clients (wrk): target >= 300 claims/s and p99 <= 100 ms;
- closed loop, 50 clients (wrk): target p99 <= 250 ms;
- open loop, 200 claims/s (our asyncio generator; latency from the intended send time,
  so a stalled server is not hidden by a stalled client): target p99 <= 100 ms;
- the database ceiling: the same statements per claim run by pgbench
  (bench/claims_pgbench.sql) on a twin campaign, 16 clients.
Afterwards the over-issue check counts grants, coupons and counters against the
campaign's stock, budget and per-customer limits; any mismatch fails the run.

Usage (from the repository root; needs `apt-get install wrk`, pgbench from postgresql):
    .venv/bin/python -m bench.bench_claims                    # 3 runs of 15 s per scenario
    .venv/bin/python -m bench.bench_claims --runs 5 --seconds 20
    .venv/bin/python -m bench.bench_claims --statements       # print one claim's SQL only
    .venv/bin/python -m bench.bench_claims --audience windowed  # a windowed-aggregate audience
"""

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg

from bench.harness import median, print_environment, print_table, setup_django

SERVER = "postgres://postgres@127.0.0.1:5432"
DATABASE = "opscrm_bench"
DSN = f"{SERVER}/{DATABASE}"
HOST = "127.0.0.1"
PORT = 8765
BENCH_DIR = Path(__file__).resolve().parent
REPOSITORY = BENCH_DIR.parent
CAMPAIGN = "bench-claims"
# The pgbench twin: same template, limits and audience, its own counters and ledger rows.
SQL_CAMPAIGN = "bench-claims-db"
TEMPLATE = "bench-ten-off"
# Its own template: the anti-harassment interval (one coupon of a template per customer per
# 24 h) would otherwise refuse the HTTP claims of customers pgbench already served.
SQL_TEMPLATE = "bench-ten-off-db"
# The campaigns' audience (--audience): every customer by a stored column, or by a paid
# order count over a window the engine evaluates on each claim. The bench's orders end on
# 2026-06-30, so the window reaches back to 2026-06-01 from today (the data's last 30 days,
# about as many orders as a live shop of this size has in 30 days), and "0 or more" admits
# everyone (every claim is a grant) while counting what "3+ orders in 30 days" counts.
WINDOW_FROM = date(2026, 6, 1)
AUDIENCES = {
    "stored": ("bench: every customer", {"field": "order_count", "op": "gte", "value": 0}),
    "windowed": ("bench: 0+ paid orders in the window", None),
}


def audience_rules(audience: str) -> dict:
    rules = AUDIENCES[audience][1]
    if rules is not None:
        return rules
    days = (datetime.now(tz=UTC).date() - WINDOW_FROM).days + 1
    return {"field": "order_count", "op": "gte", "value": 0, "window": {"last_days": days}}


# The audience test claims_pgbench.sql holds, replaced by the windowed one's.
STORED_TEST = (
    "EXISTS(SELECT 1 FROM crm_customer WHERE order_count >= 0 "
    "AND customer_id = 'C' || lpad(:cid::text, 7, '0'))"
)
PGBENCH_CUSTOMER = "'C' || lpad(:cid::text, 7, '0')"
BENCH_USER = "bench-claims-integration"
# Customers one wrk thread may claim per run: bounds every request loop.
WRK_THREAD_BLOCK = 30_000
WRK_THREADS = 2
OPEN_LOOP_RATE = 200
OPEN_LOOP_CONNECTIONS = 64
GUNICORN_WORKERS = 4
GUNICORN_THREADS = 4

TARGETS = {
    "closed 16": "≥300/s, p99 ≤100 ms",
    "closed 50": "p99 ≤250 ms",
    "open 200/s": "p99 ≤100 ms",
    "pgbench 16": "(ceiling)",
}


# Setup ------------------------------------------------------------------------------------


def prepare_campaigns(audience: str) -> str:
    """Create (once) the segments, template, both campaigns and the integration token; the
    campaigns' audience is `audience`'s segment."""
    from django.contrib.auth.models import Group, User
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from campaigns.models import Campaign, CampaignResource, CouponTemplate, HarassmentSettings
    from crm.models import Channel
    from segments.models import Segment
    from segments.rules import canonical_rules

    now = timezone.now()
    HarassmentSettings.objects.get_or_create(pk=1)
    segment, _ = Segment.objects.update_or_create(
        name=AUDIENCES[audience][0],
        defaults={"rules": canonical_rules(audience_rules(audience))},
    )
    app_push = Channel.objects.get(code="app_push")
    for code, template_code in ((CAMPAIGN, TEMPLATE), (SQL_CAMPAIGN, SQL_TEMPLATE)):
        template, _ = CouponTemplate.objects.get_or_create(
            code=template_code,
            defaults={
                "name": "Bench 10 off 50",
                "kind": "cash",
                "face_value": Decimal("10.00"),
                "threshold": Decimal("50.00"),
                "valid_days": 7,
            },
        )
        campaign, created = Campaign.objects.get_or_create(
            code=code,
            defaults={
                "name": f"Bench {code}",
                "business_line": "bench",
                "segment": segment,
                "claim_starts_at": now - timedelta(days=1),
                "claim_ends_at": now + timedelta(days=30),
                "trigger": "login",
                "daily_limit_per_customer": 1,
                "limit_per_customer": 1,
                "stock": 3_000_000,
                "budget": Decimal("30000000.00"),
                "status": "running",
            },
        )
        if created:
            CampaignResource.objects.create(campaign=campaign, template=template, quantity=1)
            campaign.channels.set([app_push])
    Campaign.objects.filter(code__in=[CAMPAIGN, SQL_CAMPAIGN]).update(segment=segment)
    user, _ = User.objects.get_or_create(username=BENCH_USER)
    user.groups.add(Group.objects.get(name="integration"))
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


RESET_SQL = """
DELETE FROM campaigns_couponevent WHERE campaign_id = ANY(%(ids)s);
DELETE FROM campaigns_redemption WHERE coupon_id IN (
    SELECT id FROM campaigns_coupon WHERE campaign_id = ANY(%(ids)s));
DELETE FROM campaigns_coupon WHERE campaign_id = ANY(%(ids)s);
DELETE FROM campaigns_grant WHERE campaign_id = ANY(%(ids)s);
DELETE FROM campaigns_customercampaigncounter WHERE campaign_id = ANY(%(ids)s);
UPDATE campaigns_campaign SET issued_count = 0, spent = 0 WHERE id = ANY(%(ids)s);
"""
RESET_TABLES = (
    "campaigns_campaign",
    "campaigns_coupon",
    "campaigns_couponevent",
    "campaigns_grant",
    "campaigns_customercampaigncounter",
    "campaigns_customerclaimlock",
)


def reset_campaigns() -> None:
    """Start every invocation from empty bench campaigns: the customers numbered from 1
    again (they are 1,000,000, an invocation uses well under half) and the same table
    sizes and statistics for every invocation, so two invocations compare. This machine's
    PostgreSQL runs with autovacuum off, so the script vacuums what it emptied.
    """
    with psycopg.connect(DSN, autocommit=True) as connection:
        ids = [
            row[0]
            for row in connection.execute(
                "SELECT id FROM campaigns_campaign WHERE code = ANY(%s)", [[CAMPAIGN, SQL_CAMPAIGN]]
            )
        ]
        with connection.transaction():
            for statement in RESET_SQL.split(";"):
                if statement.strip():
                    connection.execute(statement, {"ids": ids})
        for table in RESET_TABLES:
            connection.execute(f"VACUUM ANALYZE {table}")


def next_customer_number(campaign_code: str) -> int:
    """The first customer number no earlier run touched in the campaign (grant or refusal)."""
    with psycopg.connect(DSN) as connection:
        (last,) = connection.execute(
            """
            SELECT coalesce(max(e.customer_id), 0) FROM campaigns_couponevent e
            JOIN campaigns_campaign c ON c.id = e.campaign_id WHERE c.code = %s
            """,
            [campaign_code],
        ).fetchone()
    return last + 1


def print_claim_statements(token: str) -> None:
    """One claim through the whole Django stack, with every SQL statement it sends."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    number = next_customer_number(CAMPAIGN)
    client = Client()
    with CaptureQueriesContext(connection) as captured:
        response = client.post(
            "/api/v1/claims/",
            data=claim_body(CAMPAIGN, number),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Token {token}",
        )
    print(f"claim of C{number:07d}: HTTP {response.status_code}, {len(captured)} statements")
    for index, query in enumerate(captured.captured_queries, 1):
        print(f"{index:2d}. {query['sql']}")


def claim_body(campaign_code: str, number: int) -> str:
    customer = f"C{number:07d}"
    return json.dumps(
        {
            "campaign": campaign_code,
            "customer": customer,
            "channel": "app_push",
            "trigger": "login",
            "idempotency_key": f"bench-{campaign_code}-{customer}",
        },
        separators=(",", ":"),
    )


# The server -------------------------------------------------------------------------------


def start_gunicorn() -> subprocess.Popen:
    environment = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "bench-claims-not-a-secret",
        "ALLOWED_HOSTS": HOST,
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "0",
        # Persistent connections: a new PostgreSQL backend per request would cost more
        # than the claim itself.
        "DATABASE_URL": DSN,  # connections kept 600 s: the settings' CONN_MAX_AGE default
    }
    server = subprocess.Popen(
        [
            str(REPOSITORY / ".venv" / "bin" / "gunicorn"),
            "crm.wsgi",
            f"--workers={GUNICORN_WORKERS}",
            f"--threads={GUNICORN_THREADS}",
            "--worker-class=gthread",
            f"--bind={HOST}:{PORT}",
            "--keep-alive=30",
            "--backlog=256",
            "--log-level=warning",
        ],
        cwd=REPOSITORY,
        env=environment,
    )
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://{HOST}:{PORT}/api/v1/claims/", timeout=1)
        except urllib.error.HTTPError:
            return server  # 401/405: the app answers
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("gunicorn did not start")


def stop_gunicorn(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)


# Closed loop: wrk -------------------------------------------------------------------------

RESULT_PATTERN = re.compile(r"RESULT (.*)")


def run_wrk(*, token: str, clients: int, seconds: int) -> dict:
    first = next_customer_number(CAMPAIGN)
    command = [
        "wrk",
        f"--threads={WRK_THREADS}",
        f"--connections={clients}",
        f"--duration={seconds}s",
        "--timeout=10s",
        f"--script={BENCH_DIR / 'claims_wrk.lua'}",
        f"http://{HOST}:{PORT}",
        "--",
        token,
        CAMPAIGN,
        str(first),
        str(WRK_THREAD_BLOCK),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = RESULT_PATTERN.search(output)
    if match is None:
        raise RuntimeError(f"wrk printed no RESULT line:\n{output}")
    fields = dict(item.split("=") for item in match.group(1).split())
    values = {key: int(value) for key, value in fields.items()}
    return {
        "per_second": values["requests"] / (values["duration_us"] / 1e6),
        "p50_ms": values["p50_us"] / 1000,
        "p99_ms": values["p99_us"] / 1000,
        "max_ms": values["max_us"] / 1000,
        "ok": values["ok"],
        "refused": values["refused"],
        "errors": values["other"] + values["socket_errors"],
    }


# Open loop: asyncio, keep-alive connections, fixed schedule -------------------------------


async def _open_loop(*, token: str, rate: int, seconds: int, first: int) -> dict:
    total = rate * seconds
    idle: asyncio.Queue = asyncio.Queue()
    opened = 0
    latencies: list[float] = []
    counts = {"ok": 0, "refused": 0, "errors": 0}
    loop = asyncio.get_running_loop()

    async def connection():
        nonlocal opened
        if idle.empty() and opened < OPEN_LOOP_CONNECTIONS:
            opened += 1
            return await asyncio.open_connection(HOST, PORT)
        # Waiting for a free connection counts: latency runs from the intended send time.
        return await idle.get()

    async def send(number: int, intended: float) -> None:
        body = claim_body(CAMPAIGN, number).encode()
        request = (
            f"POST /api/v1/claims/ HTTP/1.1\r\nHost: {HOST}\r\n"
            f"Authorization: Token {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        reader, writer = await connection()
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
            await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, AttributeError):
            counts["errors"] += 1
            writer.close()
            nonlocal opened
            opened -= 1
            return
        latencies.append(loop.time() - intended)
        if 200 <= status < 300:
            counts["ok"] += 1
        elif status == 409:
            counts["refused"] += 1
        else:
            counts["errors"] += 1
        idle.put_nowait((reader, writer))

    started = loop.time() + 0.1
    tasks = []
    for index in range(total):
        intended = started + index / rate
        delay = intended - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(first + index, intended)))
    await asyncio.gather(*tasks)
    elapsed = loop.time() - started
    while not idle.empty():
        _, writer = idle.get_nowait()
        writer.close()
    latencies.sort()
    return {
        "per_second": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "max_ms": latencies[-1] * 1000,
        **counts,
    }


def run_open_loop(*, token: str, rate: int, seconds: int) -> dict:
    first = next_customer_number(CAMPAIGN)
    return asyncio.run(_open_loop(token=token, rate=rate, seconds=seconds, first=first))


# The database ceiling: pgbench ------------------------------------------------------------


def pgbench_script(audience: str) -> Path:
    """claims_pgbench.sql with `audience`'s test: the stored one as written, the windowed
    one compiled by the segment compiler now as a claim compiles it, for one customer (its
    moments inlined, the customer pgbench's)."""
    script = BENCH_DIR / "claims_pgbench.sql"
    if audience == "stored":
        return script
    from django.utils import timezone

    from crm.models import Customer
    from segments.models import Segment
    from segments.selectors import segment_audience

    segment = Segment.objects.get(name=AUDIENCES[audience][0])
    marker = "bench-pgbench-customer"
    test = (
        Customer.objects.filter(
            segment_audience(segment=segment).membership(
                as_of=timezone.now(), as_of_is_now=True, only_customer=marker
            ),
            customer_id=marker,
        )
        .order_by()
        .values("pk")
    )
    sql, params = test.query.sql_with_params()
    with psycopg.connect(DSN) as connection:
        inlined = psycopg.ClientCursor(connection).mogrify(sql, params)
    text = script.read_text()
    if STORED_TEST not in text:
        raise SystemExit("claims_pgbench.sql no longer holds the stored audience test")
    compiled = Path(tempfile.gettempdir()) / f"opscrm_claims_pgbench_{audience}.sql"
    compiled.write_text(
        text.replace(STORED_TEST, f"EXISTS({inlined.replace(repr(marker), PGBENCH_CUSTOMER)})")
    )
    return compiled


def run_pgbench(*, token: str, clients: int, seconds: int, script: Path) -> dict:
    """The engine's statements per claim, without Python, HTTP or Django in between."""
    from django.conf import settings as django_settings

    with psycopg.connect(DSN, autocommit=True) as connection:
        (segment_id,) = connection.execute(
            "SELECT segment_id FROM campaigns_campaign WHERE code = %s", [SQL_CAMPAIGN]
        ).fetchone()
        (segments_version,) = connection.execute(
            "SELECT to_char(max(updated_at) AT TIME ZONE 'UTC', "
            '\'YYYY-MM-DD"T"HH24:MI:SS.US"+00"\') FROM segments_segment'
        ).fetchone()
        first = next_customer_number(SQL_CAMPAIGN)
        # Each transaction takes the next unclaimed customer, like the HTTP runs.
        connection.execute("DROP SEQUENCE IF EXISTS bench_claims_customer_seq")
        connection.execute(f"CREATE SEQUENCE bench_claims_customer_seq START {first}")
    command = [
        "pgbench",
        "--no-vacuum",
        f"--client={clients}",
        f"--jobs={WRK_THREADS}",
        f"--time={seconds}",
        "--protocol=prepared",
        "--report-per-command",
        f"--define=segment_id={segment_id}",
        f"--define=segments_version={segments_version}",
        f"--define=token={token}",
        # The operator's zone, which the engine's refusal details are written in.
        f"--define=time_zone={django_settings.TIME_ZONE}",
        f"--file={script}",
        "--log",
        f"--log-prefix={BENCH_DIR / '.pgbench_claims'}",
        "--host=127.0.0.1",
        "--username=postgres",
        DATABASE,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    tps = float(re.search(r"tps = ([\d.]+)", output).group(1))
    failed = int(re.search(r"number of failed transactions: (\d+)", output).group(1))
    latencies = []
    for log in BENCH_DIR.glob(".pgbench_claims*"):
        with log.open() as lines:
            latencies += [int(line.split()[2]) for line in lines]
        log.unlink()
    latencies.sort()
    with psycopg.connect(DSN, autocommit=True) as connection:
        connection.execute("DROP SEQUENCE bench_claims_customer_seq")
    return {
        "per_second": tps,
        "p50_ms": latencies[len(latencies) // 2] / 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] / 1000,
        "max_ms": latencies[-1] / 1000,
        "ok": len(latencies),
        "refused": 0,
        "errors": failed,
    }


# Over-issue check -------------------------------------------------------------------------

OVER_ISSUE_SQL = """
SELECT
    c.code, c.stock, c.issued_count, c.budget, c.spent,
    (SELECT count(*) FROM campaigns_coupon k WHERE k.campaign_id = c.id),
    (SELECT coalesce(sum(g.coupon_count), 0) FROM campaigns_grant g WHERE g.campaign_id = c.id),
    (SELECT coalesce(sum(g.cost), 0) FROM campaigns_grant g WHERE g.campaign_id = c.id),
    (SELECT count(*) FROM campaigns_couponevent e WHERE e.campaign_id = c.id AND e.kind = 'grant'),
    (SELECT count(*) FROM (
        SELECT g.customer_id FROM campaigns_grant g WHERE g.campaign_id = c.id
        GROUP BY g.customer_id HAVING count(*) > c.limit_per_customer) over_limit),
    (SELECT count(*) FROM campaigns_customercampaigncounter n
     WHERE n.campaign_id = c.id AND n.total_grants <> (
        SELECT count(*) FROM campaigns_grant g
        WHERE g.campaign_id = c.id AND g.customer_id = n.customer_id))
FROM campaigns_campaign c WHERE c.code = ANY(%s) ORDER BY c.code
"""


def check_over_issue() -> list[dict]:
    """Counted rows against the stored counters, the stock, the budget and the limits."""
    rows = []
    with psycopg.connect(DSN) as connection:
        for record in connection.execute(OVER_ISSUE_SQL, [[CAMPAIGN, SQL_CAMPAIGN]]):
            (code, stock, issued, budget, spent, coupons, granted, cost, events, over, drift) = (
                record
            )
            rows.append(
                {
                    "campaign": code,
                    "coupons": coupons,
                    "issued_count": issued,
                    "stock": stock,
                    "spent": f"{spent}",
                    "budget": f"{budget}",
                    "grant_events": events,
                    "customers_over_limit": over,
                    "counters_off": drift,
                    "over_issue": int(
                        coupons != issued
                        or granted != issued
                        or cost != spent
                        or events != coupons
                        or issued > stock
                        or spent > budget
                        or over
                        or drift
                    ),
                }
            )
    return rows


# Main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--statements", action="store_true", help="print one claim's SQL")
    parser.add_argument("--audience", choices=sorted(AUDIENCES), default="stored")
    arguments = parser.parse_args()

    setup_django(DSN)
    print_environment(DSN)
    print(
        f"server: gunicorn {GUNICORN_WORKERS} workers x {GUNICORN_THREADS} threads (gthread), "
        f"DEBUG off, conn_max_age=600; load before: {os.getloadavg()[0]:.2f}"
    )
    with psycopg.connect(DSN) as connection:
        (customers,) = connection.execute("SELECT count(*) FROM crm_customer").fetchone()
    rules = json.dumps(audience_rules(arguments.audience))
    print(f"database {DATABASE}: {customers} customers; audience (everyone): {rules}")
    token = prepare_campaigns(arguments.audience)
    script = pgbench_script(arguments.audience)
    reset_campaigns()
    if arguments.statements:
        print_claim_statements(token)
        return

    server = start_gunicorn()
    try:
        cases = {
            "closed 16": lambda seconds: run_wrk(token=token, clients=16, seconds=seconds),
            "closed 50": lambda seconds: run_wrk(token=token, clients=50, seconds=seconds),
            "open 200/s": lambda seconds: run_open_loop(
                token=token, rate=OPEN_LOOP_RATE, seconds=seconds
            ),
            "pgbench 16": lambda seconds: run_pgbench(
                token=token, clients=16, seconds=seconds, script=script
            ),
        }
        for case in cases.values():  # warm-up: workers import, connect, fill caches
            case(3)
        results: dict[str, list[dict]] = {name: [] for name in cases}
        for run in range(arguments.runs):
            for name, case in cases.items():
                result = case(arguments.seconds)
                results[name].append(result)
                print(
                    f"run {run + 1} {name}: {result['per_second']:.0f}/s "
                    f"p50 {result['p50_ms']:.1f} ms p99 {result['p99_ms']:.1f} ms "
                    f"ok {result['ok']} refused {result['refused']} errors {result['errors']} "
                    f"(load {os.getloadavg()[0]:.2f})",
                    flush=True,
                )
    finally:
        stop_gunicorn(server)

    rows = []
    for name, runs in results.items():
        rows.append(
            {
                "scenario": name,
                "claims/s": median([r["per_second"] for r in runs]),
                "p50 ms": median([r["p50_ms"] for r in runs]),
                "p99 ms": median([r["p99_ms"] for r in runs]),
                "worst p99 ms": max(r["p99_ms"] for r in runs),
                "refused": sum(r["refused"] for r in runs),
                "errors": sum(r["errors"] for r in runs),
                "target": TARGETS[name],
            }
        )
    print_table(rows, title=f"Claims, median of {arguments.runs} runs of {arguments.seconds} s")
    http = median([r["per_second"] for r in results["closed 16"]])
    database = median([r["per_second"] for r in results["pgbench 16"]])
    print(f"HTTP/database ratio at 16 clients: {http / database:.2f}")
    checks = check_over_issue()
    print_table(checks, title="Over-issue check (must be 0)")
    print(f"load after: {os.getloadavg()[0]:.2f}")
    if any(row["over_issue"] for row in checks):
        sys.exit("OVER-ISSUE: counted rows disagree with the counters or limits")


if __name__ == "__main__":
    main()
