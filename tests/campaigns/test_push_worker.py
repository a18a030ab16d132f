"""A scheduled push on real Celery workers and the suite's real broker (the demo's
filesystem transport, or Redis with TEST_CELERY_BROKER_URL): a few thousand customers, a
worker killed with SIGKILL halfway, two workers sharing one push, pause and resume.

Exactly once is checked against the audience computed here: every Shanghai customer not
held out by SPEC §4's hash (tests/campaigns/test_push_delivery.py's held_out), each with
one grant, one coupon and one message per consented channel, whatever crashed."""

import os
import signal
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from campaigns.models import Coupon, DeliveryBatch, DeliveryRun, Grant, Message
from campaigns.services import lifecycle
from campaigns.services.push_delivery import sweep_pushes
from crm.models import Customer
from tests.campaigns.pushing import held_out
from tests.conftest import spawn_celery_worker, stop_celery_worker, worker_logs

pytestmark = [pytest.mark.worker, pytest.mark.slow]

AUDIENCE = 3000
HOLDOUT = Decimal("0.1")


@pytest.fixture
def audience(transactional_db):
    """3,000 Shanghai customers (every third without app-push consent), 50 in Beijing."""
    Customer.objects.bulk_create(
        [
            Customer(
                customer_id=f"W{n:05d}",
                name=f"Customer {n}",
                city="Shanghai",
                consent={"app_push": n % 3 != 0},
            )
            for n in range(AUDIENCE)
        ]
        + [Customer(customer_id=f"B{n:03d}", name="B", city="Beijing") for n in range(50)]
    )
    return list(Customer.objects.filter(city="Shanghai"))


@pytest.fixture
def push(make_campaign, app_push, audience, marketer, settings):
    """Start a scheduled-push campaign now, cut into batches of 100."""
    settings.PUSH_BATCH_SIZE = 100

    def start():
        now = timezone.now()
        campaign = make_campaign(
            trigger="scheduled_push",
            status="scheduled",
            claim_starts_at=now + timedelta(hours=1),
            claim_ends_at=now + timedelta(days=2),
            stock=10 * AUDIENCE,
            budget=Decimal("1000000.00"),
            holdout_share=HOLDOUT,
        )
        lifecycle.start_campaign(campaign=campaign, actor=marketer, now=now)
        return campaign

    return start


def wait_until(condition, *, timeout: float, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    pytest.fail(f"not reached within {timeout} s\n{worker_logs()}")


def granting_a_batch(campaign) -> bool:
    """Whether a worker is inside one of the push's batches: it holds the batch's row lock
    from its first statement to its commit (the lock the sweeper skips)."""
    with transaction.atomic():
        pending = DeliveryBatch.objects.filter(run__campaign=campaign, state="pending")
        free = pending.select_for_update(skip_locked=True).values_list("pk", flat=True)
        return len(list(free)) < pending.count()


def done_batches(campaign) -> int:
    return DeliveryBatch.objects.filter(run__campaign=campaign, state="done").count()


def assert_pushed_exactly_once(campaign, audience) -> None:
    treated = {c.pk for c in audience if not held_out(campaign.pk, c.pk, HOLDOUT)}
    grants = Counter(Grant.objects.filter(campaign=campaign).values_list("customer_id", flat=True))
    assert set(grants) == treated
    assert set(grants.values()) == {1}
    assert Coupon.objects.filter(campaign=campaign).count() == len(treated)
    consented = {c.pk for c in audience if c.consent["app_push"]}
    messages = Counter(
        Message.objects.filter(campaign=campaign).values_list("customer_id", "status")
    )
    assert messages == Counter(
        {(pk, "sent" if pk in consented else "suppressed"): 1 for pk in treated}
    )
    run = DeliveryRun.objects.get(campaign=campaign)
    assert run.state == "done"
    assert run.total == len(audience)
    batches = DeliveryBatch.objects.filter(run=run)
    assert sum(b.granted for b in batches) == len(treated)
    assert sum(b.skipped.get("holdout", 0) for b in batches) == len(audience) - len(treated)


def test_a_worker_pushes_to_a_few_thousand_customers(
    celery_worker_process, push, audience, app_push
):
    # when a push to 3,000 customers starts, batches of 100
    started = time.monotonic()
    campaign = push()

    # then the worker grants every treated member once and messages them
    wait_until(lambda: DeliveryRun.objects.get(campaign=campaign).state == "done", timeout=180)
    elapsed = time.monotonic() - started
    assert_pushed_exactly_once(campaign, audience)
    assert DeliveryBatch.objects.filter(run__campaign=campaign).count() == AUDIENCE // 100
    assert elapsed < 120


def test_a_worker_killed_mid_push_and_restarted_grants_everyone_exactly_once(
    celery_broker, push, audience, settings, request
):
    # given a worker that has done a third of the push's batches and is inside the next
    worker = spawn_celery_worker("doomed")
    request.addfinalizer(lambda: worker.poll() is None and stop_celery_worker(worker))
    campaign = push()
    wait_until(
        lambda: done_batches(campaign) >= 10 and granting_a_batch(campaign),
        timeout=120,
        every=0.005,
    )

    # when it is killed with SIGKILL mid-batch, and a new worker starts
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    left = 30 - done_batches(campaign)
    assert left > 0
    replacement = spawn_celery_worker("replacement")
    try:
        # and the sweeper (beat) runs once the lost batches are stale
        settings.PUSH_BATCH_STALE_SECONDS = 0
        wait_until(
            lambda: (
                sweep_pushes(now=timezone.now())["finished_pushes"] == 1
                or DeliveryRun.objects.get(campaign=campaign).state == "done"
            ),
            timeout=180,
            every=1.0,
        )
    finally:
        stop_celery_worker(replacement)

    # then every treated member holds exactly one grant and one message
    assert_pushed_exactly_once(campaign, audience)
    # and the lost batches were sent again by the sweeper
    assert DeliveryBatch.objects.filter(run__campaign=campaign, sends__gt=1).exists()


def test_two_workers_share_one_push(celery_broker, push, audience):
    # given two worker processes
    workers = [spawn_celery_worker("first"), spawn_celery_worker("second")]
    try:
        # when one push runs
        campaign = push()
        wait_until(lambda: DeliveryRun.objects.get(campaign=campaign).state == "done", timeout=180)
    finally:
        for worker in workers:
            stop_celery_worker(worker)

    # then both granted batches, and nobody twice
    by_worker = dict(
        DeliveryBatch.objects.filter(run__campaign=campaign)
        .values_list("worker")
        .annotate(n=Count("pk"))
        .values_list("worker", "n")
    )
    assert {name.split("@")[0] for name in by_worker} == {"first", "second"}
    assert sum(by_worker.values()) == 30
    assert_pushed_exactly_once(campaign, audience)


def test_a_paused_push_stops_granting_and_a_resumed_one_finishes(
    celery_worker_process, push, audience, marketer
):
    # given a push under way
    campaign = push()
    wait_until(lambda: done_batches(campaign) >= 3, timeout=120, every=0.01)

    # when the marketer pauses the campaign
    lifecycle.pause_campaign(campaign=campaign, actor=marketer, now=timezone.now())

    # then no batch is granted after the pause returns
    paused_at = done_batches(campaign)
    grants_at_pause = Grant.objects.filter(campaign=campaign).count()
    time.sleep(3)
    assert done_batches(campaign) == paused_at < 30
    assert Grant.objects.filter(campaign=campaign).count() == grants_at_pause
    assert DeliveryRun.objects.get(campaign=campaign).state == "paused"

    # when it is resumed, the push finishes, everyone once
    lifecycle.resume_campaign(campaign=campaign, actor=marketer, now=timezone.now())
    wait_until(lambda: DeliveryRun.objects.get(campaign=campaign).state == "done", timeout=180)
    assert_pushed_exactly_once(campaign, audience)


def test_the_sweeper_sends_again_a_push_whose_queue_was_lost(
    celery_broker, push, audience, settings
):
    # given a push whose tasks were all lost (a broker restart; no worker was running)
    campaign = push()
    celery_broker.control.purge()
    assert done_batches(campaign) == 0

    # when a worker starts and the sweeper runs past the stale delay
    worker = spawn_celery_worker()
    try:
        settings.PUSH_BATCH_STALE_SECONDS = 0
        sweep_pushes(now=timezone.now())
        wait_until(lambda: DeliveryRun.objects.get(campaign=campaign).state == "done", timeout=180)
    finally:
        stop_celery_worker(worker)

    # then the push completes, everyone once
    assert_pushed_exactly_once(campaign, audience)
