"""Celery entry points of segments; each takes ids, reads the clock and calls one service."""

from celery import shared_task
from django.utils import timezone

from segments.services import refresh


@shared_task
def refresh_segment_task(segment_id: int, job_id: int) -> None:
    """Celery entry point for refresh.refresh_segment; safe to run twice."""
    refresh.refresh_segment(segment_id=segment_id, job_id=job_id, now=timezone.now())


@shared_task
def refresh_dynamic_segments_task() -> int:
    """Periodic (CELERY_BEAT_SCHEDULE): refresh every dynamic segment, adding a point to
    each size history; returns how many refreshes were started."""
    return len(refresh.start_dynamic_segment_refreshes(now=timezone.now()))
