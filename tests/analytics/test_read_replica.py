"""Reports read from a real streaming replica of the server under test, started here with
pg_basebackup and pg_ctl (the wheel's for the embedded server, the packaged ones for the
machine's PostgreSQL 15); writes and the claim engine stay on the primary.

The proof that a report reads the replica: with the replica's replay paused, a claim made
on the primary is missing from the report, and appears once replay resumes."""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connections
from django.http import HttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.customer_base import customer_base
from analytics.filters import Period
from analytics.models import CustomerBaseSnapshot
from analytics.services.customer_base_snapshots import start_customer_base_snapshot
from campaigns.models import Campaign, Grant
from campaigns.services.claims import claim_coupon
from crm.core.databases import DatabaseConfigurationError, EmbeddedServer, programs_for
from crm.core.replica import REPLICA, report_reads
from crm.models import Customer
from segments.models import Segment
from segments.rules import canonical_rules
from tests.conftest import make_user, other_connection, token_client
from tests.factories import CustomerFactory, OrderFactory
from tests.segments.api_schema import assert_answer_documented, published_schema

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

REPLICA_DIR = settings.BASE_DIR / "var" / "postgres-test-replica"
# A hot standby needs at least the primary's values of these.
STANDBY_LIMITS = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)
REPLAY_TIMEOUT_SECONDS = 30
# How long the replica's replay waits for a query in its way before cancelling it (30 s by
# default): short, so that the recovery-conflict test does not wait.
STANDBY_DELAY = {"max_standby_streaming_delay": "200ms"}


@pytest.fixture(scope="module")
def replica_server(django_db_setup, django_db_blocker):
    """A streaming replica of the test server, started once for this module's tests: a
    base backup copies the whole server, and the tests need only that it replays."""
    with django_db_blocker.unblock():
        primary = connections["default"]
        primary.ensure_connection()
        programs = programs_for(primary.pg_version)
        major = primary.pg_version // 10000
        assert programs is not None, (
            f"No PostgreSQL {major} programs here to start a replica of the test server "
            f"(Debian: apt-get install postgresql-{major})."
        )
        with primary.cursor() as cursor:
            limits = {}
            for name in STANDBY_LIMITS:
                cursor.execute(f"SHOW {name}")
                limits[name] = cursor.fetchone()[0]
        settings_dict = primary.settings_dict
    server = EmbeddedServer(
        data_dir=REPLICA_DIR, server_settings={**limits, **STANDBY_DELAY}, binaries=programs
    )
    try:
        start_replica(server, settings_dict)
        yield server, settings_dict
    finally:
        server.stop()
        shutil.rmtree(REPLICA_DIR, ignore_errors=True)


def start_replica(server: EmbeddedServer, primary: dict) -> None:
    """Start `server` as a replica of `primary`, a copy nobody keeps: no flush to disk. One
    base backup of the machine's PostgreSQL 15 took over 90 s in one CI run of many, late
    in the suite, when the machine holds much unwritten data that a flush waits for. Should
    a start still fail, a second attempt from a clean folder follows, the first failure
    (which quotes pg_basebackup's progress) is reported as a warning, and a second failure
    fails the test."""
    attempts = []
    for _ in range(2):
        shutil.rmtree(REPLICA_DIR, ignore_errors=True)
        try:
            server.start_as_replica_of(primary, sync=False)
            break
        except DatabaseConfigurationError as error:
            server.stop()
            attempts.append(str(error))
    else:
        pytest.fail(
            "\n".join(attempts) + "\nA TEST_DATABASE_URL server must accept replication "
            "connections from its user (pg_hba.conf: host replication <user> <address> ...)."
        )
    if attempts:
        warnings.warn(f"a replica's first start failed: {attempts[0]}", stacklevel=2)


@pytest.fixture
def replica(replica_server, transactional_db, django_db_blocker):
    """The module's replica as the `replica` alias, for one test, replaying from the
    start: it has everything the primary had when the test began."""
    server, primary = replica_server
    connections.settings[REPLICA] = {
        **primary,
        "HOST": str(server.socket_dir),
        "PORT": "5432",
        "TEST": {**primary["TEST"], "MIRROR": "default"},
    }
    try:
        # Django's TestCase refuses connections to aliases a test did not declare, and a test
        # can declare only aliases that exist when it starts: this one starts inside it.
        with django_db_blocker.unblock():
            replayed()
            yield server
            replay("resume")
    finally:
        connections[REPLICA].close()
        del connections[REPLICA]
        del connections.settings[REPLICA]


def replayed() -> None:
    """Wait until the replica has replayed everything the primary wrote so far."""
    with connections["default"].cursor() as cursor:
        # The insert position, not the write position: the embedded test server commits
        # asynchronously, so a commit may not be written yet.
        cursor.execute("SELECT pg_current_wal_insert_lsn()")
        (written,) = cursor.fetchone()
    deadline = time.monotonic() + REPLAY_TIMEOUT_SECONDS
    while True:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [written])
            if cursor.fetchone()[0]:
                return
        assert time.monotonic() < deadline, f"the replica did not replay {written}"
        time.sleep(0.05)


def replay(action: str) -> None:
    with connections[REPLICA].cursor() as cursor:
        cursor.execute(f"SELECT pg_wal_replay_{action}()")


@pytest.fixture
def campaign(make_campaign, lenient_harassment_rules):
    now = timezone.now()
    for n in range(3):
        CustomerFactory(customer_id=f"P{n}", city="Shanghai")
    return make_campaign(
        code="replicated",
        claim_starts_at=now - timedelta(days=1),
        claim_ends_at=now + timedelta(days=1),
    )


def claim(customer: str) -> None:
    claim_coupon(
        campaign="replicated",
        customer=customer,
        channel="app_push",
        trigger="login",
        idempotency_key=f"replica-{customer}",
        now=timezone.now(),
    )


def test_reports_read_the_replica_and_writes_go_to_the_primary(replica, campaign):
    analyst = token_client(make_user("analyst"))
    url = "/api/v1/campaigns/replicated/report/"
    claim("P0")
    replayed()
    replay("pause")
    try:
        # when a claim is written while the replica does not replay
        claim("P1")
        with CaptureQueriesContext(connections[REPLICA]) as on_replica:
            stale = analyst.get(url).json()
        # (read now: the next request empties the connection's log)
        replica_queries = [query["sql"] for query in on_replica.captured_queries]
        overview = analyst.get("/api/v1/reports/campaigns/").json()
    finally:
        replay("resume")

    # then the report (and the overview) answered from the replica: one grant, not two
    assert stale["total"]["claimed"] == 1
    assert [row["claimed"] for row in overview["campaigns"]] == [1]
    assert any("campaigns_grant" in sql for sql in replica_queries)
    assert Grant.objects.filter(campaign=campaign).count() == 2  # the primary has both
    # and once the replica has replayed, the report has it too
    replayed()
    assert analyst.get(url).json()["total"]["claimed"] == 2


def test_a_claim_never_reads_the_replica(replica, campaign):
    replayed()
    with report_reads(), CaptureQueriesContext(connections[REPLICA]) as on_replica:
        # inside a report's block, the ORM's reads are routed to the replica...
        assert Campaign.objects.filter(code="replicated").count() == 1
        routed = len(on_replica.captured_queries)
        # ...but a claim reads and writes the primary (a standby refuses writes)
        claim("P2")
        after_claim = len(on_replica.captured_queries)
    assert routed == 1
    assert after_claim == routed
    assert Grant.objects.filter(campaign=campaign, customer__customer_id="P2").count() == 1


def test_a_background_computation_reads_the_primary(replica, campaign):
    # given the orders of a customer base, replayed
    today = timezone.localdate()
    period = Period(today.replace(day=1), today)
    customer = Customer.objects.get(customer_id="P0")
    OrderFactory(customer=customer, placed_at=timezone.now() - timedelta(hours=1))
    replayed()
    with CaptureQueriesContext(connections[REPLICA]) as on_replica:
        # when a request computes it, it reads the replica
        on_request = customer_base(period=period, now=timezone.now(), segment=None)
        requested = len(on_replica.captured_queries)
        # and when it is computed in the background (the eager task runs at the commit)
        job = start_customer_base_snapshot(
            actor=None, period=period, segment=None, now=timezone.now()
        )
        background = [query["sql"] for query in on_replica.captured_queries[requested:]]
    # then the request's orders came from the replica, the background's from the primary
    assert requested > 0
    assert not [sql for sql in background if "crm_order" in sql]
    job.refresh_from_db()
    assert job.status == "succeeded", job.message
    snapshot = CustomerBaseSnapshot.objects.get(job=job)
    assert snapshot.data is not None
    assert on_request.customers >= 1


def test_database_replica_url_adds_a_test_mirror_and_the_router(db):
    """The settings build the alias from DATABASE_REPLICA_URL, mirrored in tests (the test
    database is never created on a replica), and refuse anything but PostgreSQL."""
    script = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps([settings.DATABASES['replica'][k] for k in ('HOST', 'PORT', "
        "'NAME', 'TEST')] + [settings.DATABASE_ROUTERS]))"
    )
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crm.settings",
        "DATABASE_REPLICA_URL": "postgres://reader@replica.example:6543/opscrm",
    }
    answer = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environment,
        cwd=settings.BASE_DIR,
        check=True,
    )
    host, port, name, test, routers = json.loads(answer.stdout)
    assert (host, str(port), name) == ("replica.example", "6543", "opscrm")
    assert test["MIRROR"] == "default"
    assert routers == ["crm.core.replica.ReplicaRouter"]
    refused = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**environment, "DATABASE_REPLICA_URL": "mysql://reader@replica/opscrm"},
        cwd=settings.BASE_DIR,
        check=False,
    )
    assert refused.returncode != 0
    assert "DATABASE_REPLICA_URL names 'mysql', but OpsCRM runs on PostgreSQL only" in (
        refused.stderr
    )


def test_segment_previews_read_the_replica(replica, campaign):
    marketer = token_client(make_user("marketer"))
    hangzhou = {"field": "city", "op": "in", "value": ["Hangzhou"]}
    CustomerFactory(customer_id="H0", city="Hangzhou")
    replayed()
    replay("pause")
    try:
        # when a customer is written while the replica does not replay
        CustomerFactory(customer_id="H1", city="Hangzhou")
        with CaptureQueriesContext(connections[REPLICA]) as on_replica:
            stale = marketer.post(
                "/api/v1/segments/preview/",
                {"rules": hangzhou, "builder_session": "replica1"},
                format="json",
            ).json()
        replica_queries = [query["sql"] for query in on_replica.captured_queries]
    finally:
        replay("resume")

    # then the builder's count came from the replica, under the time limit set there
    assert stale["count"] == 1
    assert any("set_config" in sql for sql in replica_queries)
    assert any("pg_cancel_backend" in sql for sql in replica_queries)
    replayed()
    fresh = marketer.post("/api/v1/segments/preview/", {"rules": hangzhou}, format="json")
    assert fresh.json()["count"] == 2


WINDOWED = {"field": "order_count", "op": "gte", "value": 1, "window": {"last_days": 30}}
CONFLICT_DETAIL = (
    "The read replica stopped this query to apply the latest changes from the primary "
    "database; try again in a moment."
)


def test_a_preview_the_replica_cancels_for_its_replay_answers_503_not_a_server_error(
    replica, campaign
):
    marketer = token_client(make_user("marketer"))

    answer = during_a_recovery_conflict(
        lambda: marketer.post("/api/v1/segments/preview/", {"rules": WINDOWED}, format="json")
    )

    assert answer.status_code == 503
    assert answer["Retry-After"] == "5"
    assert answer.json() == {"reason": "replica_conflict", "detail": CONFLICT_DETAIL}
    assert_answer_documented(
        published_schema(marketer), "/api/v1/segments/preview/", "post", answer
    )
    # and once the primary's transaction has ended, the same preview counts
    replayed()
    again = marketer.post("/api/v1/segments/preview/", {"rules": WINDOWED}, format="json")
    assert (again.status_code, again.json()["count"]) == (200, 0)


def test_a_page_whose_count_the_replica_cancels_answers_503_with_why(replica, campaign):
    analyst = APIClient()
    analyst.force_login(make_user("analyst"))
    segment = Segment.objects.create(name="Recent buyers", rules=canonical_rules(WINDOWED))

    answer = during_a_recovery_conflict(
        lambda: analyst.get(reverse("segment-summary", args=[segment.pk]))
    )

    assert answer.status_code == 503
    assert answer["Retry-After"] == "5"
    page = answer.content.decode()
    assert "Try again in a moment" in page
    assert CONFLICT_DETAIL in page


def during_a_recovery_conflict(request: Callable[[], HttpResponse]) -> HttpResponse:
    """The answer to `request`, made while the replica's replay cancels its count.

    A hot standby cancels a query that holds what its replay needs. Made to happen here:
    the primary locks the orders table, the count (a windowed order count) then holds the
    customers table on the replica and waits on the orders, and the primary locks the
    customers table too, which the replica's replay must take from the count."""
    replayed()
    primary = other_connection(autocommit=False)
    answers = []
    try:
        with primary.cursor() as cursor:
            cursor.execute("LOCK TABLE crm_order IN ACCESS EXCLUSIVE MODE")
        flush_primary_wal()
        wait_on_replica(
            "SELECT count(*) FROM pg_locks WHERE relation = 'crm_order'::regclass "
            "AND mode = 'AccessExclusiveLock' AND granted"
        )

        def counting() -> None:
            try:
                answers.append(request())
            finally:
                connections.close_all()

        thread = threading.Thread(target=counting)
        thread.start()
        wait_on_replica(
            # (not by its text: pg_stat_activity keeps a query's first 1 kB only)
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND backend_type = 'client backend'"
        )
        with primary.cursor() as cursor:
            cursor.execute("LOCK TABLE crm_customer IN ACCESS EXCLUSIVE MODE")
        flush_primary_wal()
        thread.join(timeout=REPLAY_TIMEOUT_SECONDS)
        assert not thread.is_alive()
    finally:
        primary.rollback()
        primary.close()
    (answer,) = answers
    return answer


def flush_primary_wal() -> None:
    """Send the primary's latest WAL to the replica. A lock is logged when taken, but sent
    only once flushed, which a transaction still open does not do (and the test server
    commits asynchronously): a committed write with synchronous_commit on flushes it."""
    with other_connection(autocommit=True) as flushing:
        flushing.execute("SET synchronous_commit = on")
        flushing.execute("CREATE TEMPORARY TABLE wal_flushed ()")


def wait_on_replica(counting_sql: str) -> None:
    """Wait until `counting_sql`, run on the replica, counts at least one row."""
    deadline = time.monotonic() + REPLAY_TIMEOUT_SECONDS
    while True:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(counting_sql)
            if cursor.fetchone()[0]:
                return
        assert time.monotonic() < deadline, f"the replica never showed: {counting_sql}"
        time.sleep(0.05)
