"""A customer base computed in the background: for a period and optionally a segment that
the monthly facts do not answer and a request cannot compute within its time limit (a
segment's at a million customers and ten million orders takes minutes). The result is
stored as a CustomerBaseSnapshot, which the page and the API then read as they would the
same numbers computed on the request (analytics.customer_base).
"""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone

from analytics import tasks
from analytics.customer_base import (
    SNAPSHOT_JOB_KIND,
    customer_base,
    encoded_base,
    snapshot_in_progress,
)
from analytics.filters import Period
from analytics.models import CustomerBaseSnapshot
from crm.core.jobs import claim_job, create_job, fail_job, finish_job, record_job_progress
from crm.core.models import Job
from crm.core.replica import reads_primary
from segments.models import Segment


def start_customer_base_snapshot(
    *, actor: AbstractBaseUser | None, period: Period, segment: Segment | None, now: datetime
) -> Job:
    """Create the snapshot with a pending Job and enqueue its computation when the
    transaction commits; one of the same period and segment still unfinished is returned
    instead of a second one."""
    with transaction.atomic():
        # One start at a time, so two clicks make one computation.
        connection.cursor().execute(
            "SELECT pg_advisory_xact_lock(hashtext('analytics.start_customer_base_snapshot'))"
        )
        waiting = snapshot_in_progress(period=period, segment=segment, now=now)
        if waiting is not None:
            return waiting
        label = f"Customer base {period.first_day} to {period.last_day}"
        job = create_job(
            kind=SNAPSHOT_JOB_KIND,
            label=f"{label}, {segment.name}"[:200] if segment else label,
            created_by=actor if actor is not None and actor.is_authenticated else None,
        )
        CustomerBaseSnapshot.objects.create(
            first_day=period.first_day,
            last_day=period.last_day,
            segment=segment,
            segment_rules=segment.rules if segment else None,
            job=job,
        )
        job_id = job.pk
        transaction.on_commit(lambda: tasks.compute_customer_base_snapshot_task.delay(job_id))
    return job


@reads_primary
def compute_customer_base_snapshot(*, job_id: int, now: datetime) -> CustomerBaseSnapshot | None:
    """Compute the snapshot of `job_id` as of `now` (its period's end when that is
    earlier), without the requests' time limit, on the primary (a replica cancels a query
    that holds its replay up for max_standby_streaming_delay, 30 s by default). A job
    already started is not run again (a redelivered task); any failure fails the job with
    its first line."""
    snapshot = CustomerBaseSnapshot.objects.select_related("job", "segment").get(job_id=job_id)
    job = snapshot.job
    if not claim_job(job=job, now=now, total=1):
        return None
    try:
        base = customer_base(
            period=Period(snapshot.first_day, snapshot.last_day),
            now=now,
            segment=snapshot.segment,
            limited=False,
        )
    except Exception as error:
        # The first line only: a database error's DETAIL may quote a row.
        first_line = (str(error).splitlines() or [type(error).__name__])[0]
        fail_job(job=job, now=now, message=f"The computation stopped: {first_line}")
        raise
    snapshot.data = encoded_base(base)
    snapshot.as_of = base.as_of
    snapshot.save(update_fields=["data", "as_of"])
    record_job_progress(job=job, done=1)
    finish_job(job=job, now=now, message=f"As of {timezone.localtime(base.as_of):%Y-%m-%d %H:%M}.")
    return snapshot
