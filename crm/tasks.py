"""Celery entry points of the customer-data domain; each calls one service (STYLE §2.6)."""

from celery import shared_task
from django.utils import timezone

from crm.services import metrics
from crm.services.imports import runs


@shared_task
def import_csv_file_task(job_id: int, kind: str, upload_name: str) -> None:
    """Run the import a page upload queued, reading the file from the default storage
    under `upload_name`; safe to run twice (services.imports.runs)."""
    runs.run_import_job(job_id=job_id, kind=kind, upload_name=upload_name, now=timezone.now())


@shared_task
def recompute_customer_metrics_task() -> None:
    """Periodic (CELERY_BEAT_SCHEDULE): recompute every customer's metrics as of now.

    Stages move with time even when no order arrives, so this runs for everyone.
    """
    metrics.recompute_customer_metrics(as_of=timezone.now())
