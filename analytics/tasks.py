"""Celery entry points of analytics; each takes ids, reads the clock and calls one service."""

from celery import shared_task
from django.utils import timezone

from analytics.services import campaign_facts, customer_base_facts, customer_base_snapshots


@shared_task
def build_customer_base_facts_task(job_id: int) -> None:
    """Celery entry point for customer_base_facts.build_customer_base_facts."""
    now = timezone.now()
    customer_base_facts.build_customer_base_facts(job_id=job_id, as_of=now, now=now)


@shared_task
def start_customer_base_facts_task() -> int:
    """Periodic (CELERY_BEAT_SCHEDULE): start the nightly build; returns its job's id."""
    return customer_base_facts.start_customer_base_facts(actor=None, now=timezone.now()).pk


@shared_task
def compute_customer_base_snapshot_task(job_id: int) -> None:
    """Celery entry point for customer_base_snapshots.compute_customer_base_snapshot."""
    customer_base_snapshots.compute_customer_base_snapshot(job_id=job_id, now=timezone.now())


@shared_task
def build_campaign_facts_task() -> str:
    """Periodic (CELERY_BEAT_SCHEDULE): rebuild the campaigns' hourly facts; returns their
    end."""
    return campaign_facts.build_campaign_facts(now=timezone.now()).isoformat()
