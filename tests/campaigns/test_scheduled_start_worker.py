"""A scheduled campaign opens and closes on time with nobody touching it: Celery beat and a
real worker on the suite's broker (the demo's filesystem transport, or
TEST_CELERY_BROKER_URL) apply the window edges."""

import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from campaigns.models import Campaign
from tests.conftest import celery_environment

pytestmark = [pytest.mark.worker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def celery_beat_process(celery_worker_process, tmp_path):
    """Celery beat with the product's schedule (settings.CELERY_BEAT_SCHEDULE)."""
    beat = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "crm",
            "beat",
            "-l",
            "WARNING",
            "--schedule",
            str(tmp_path / "celerybeat-schedule"),
        ],
        cwd=ROOT,
        env=celery_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    yield beat
    beat.terminate()
    try:
        beat.wait(timeout=20)
    except subprocess.TimeoutExpired:
        beat.kill()


def wait_for_status(campaign: Campaign, status: str, *, timeout: float) -> float:
    """Seconds until the campaign has `status` (fails after `timeout`)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        campaign.refresh_from_db()
        if campaign.status == status:
            return time.monotonic() - started
        time.sleep(0.5)
    pytest.fail(f"campaign {campaign.code} still {campaign.status} after {timeout} s")


def test_beat_and_worker_start_a_scheduled_campaign_and_finish_it_at_its_window_edges(
    make_campaign, celery_beat_process, settings
):
    # given a scheduled campaign whose window opens in 5 s and closes 30 s later: two of
    # beat's ticks (every ADVANCE_CAMPAIGNS_SECONDS) fall inside it even when the worker
    # takes a few seconds to pick the first one up
    now = timezone.now()
    campaign = make_campaign(
        status="scheduled",
        claim_starts_at=now + timedelta(seconds=5),
        claim_ends_at=now + timedelta(seconds=35),
    )
    slack = settings.ADVANCE_CAMPAIGNS_SECONDS + 10

    # when beat and the worker run on their own
    wait_for_status(campaign, "finished", timeout=35 + slack)

    # then it was started inside its window (starting records the audience; the status is
    # not polled for "running", which a slow poll could step over) and finished at its end
    assert campaign.audience_recorded_at is not None
    assert campaign.claim_starts_at <= campaign.audience_recorded_at < campaign.claim_ends_at
    assert timezone.now() >= campaign.claim_ends_at
    assert campaign.updated_at >= campaign.claim_ends_at
