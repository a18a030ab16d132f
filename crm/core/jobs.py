"""Job progress rows shared by imports, refreshes and pushes.

Each helper commits on its own connection state: callers run batches in their own
transactions, so a page polling the job sees progress while the work goes on.
"""

from datetime import datetime

from django.db.models import F

from crm.core.models import Job, JobStatus

# More would bloat the row the page polls; the count of refused rows is always exact.
MAX_REPORTED_ERRORS = 1000


def create_job(*, kind: str, label: str = "", total: int = 0, created_by=None) -> Job:
    """Create a pending job row."""
    return Job.objects.create(kind=kind, label=label, total=total, created_by=created_by)


def start_job(*, job: Job, now: datetime, total: int | None = None) -> None:
    """Mark the job running (and set its total when it is known)."""
    job.status = JobStatus.RUNNING
    job.started_at = now
    fields = ["status", "started_at", "updated_at"]
    if total is not None:
        job.total = total
        fields.append("total")
    job.save(update_fields=fields)


def claim_job(*, job: Job, now: datetime, total: int) -> bool:
    """Mark a pending job running, in one statement, and say whether this call did: a job
    runs once, and a task delivered twice at the same moment finds it taken."""
    claimed = Job.objects.filter(pk=job.pk, status=JobStatus.PENDING).update(
        status=JobStatus.RUNNING, started_at=now, total=total, updated_at=now
    )
    if claimed:
        job.refresh_from_db()
    return bool(claimed)


def record_job_progress(
    *, job: Job, done: int, succeeded: int = 0, failed: int = 0, errors: list | None = None
) -> int:
    """Add one batch's progress with F() increments (two workers may share a job).

    Returns how many of `errors` were recorded: the first ones, up to MAX_REPORTED_ERRORS
    for the job.
    """
    Job.objects.filter(pk=job.pk).update(
        done=F("done") + done, succeeded=F("succeeded") + succeeded, failed=F("failed") + failed
    )
    if not errors:
        return 0
    job.refresh_from_db(fields=["errors"])
    room = MAX_REPORTED_ERRORS - len(job.errors)
    if room <= 0:
        return 0
    job.errors = [*job.errors, *errors[:room]]
    job.save(update_fields=["errors"])
    return min(room, len(errors))


def finish_job(*, job: Job, now: datetime, message: str = "") -> None:
    """Mark the job succeeded."""
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED, finished_at=now, message=message
    )
    job.refresh_from_db()


def fail_job(*, job: Job, now: datetime, message: str) -> None:
    """Mark the job failed with a message for the page."""
    Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, finished_at=now, message=message)
    job.refresh_from_db()
