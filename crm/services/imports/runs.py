"""Running an import: a CSV file in batches, or the items of one bulk API request.

These are the services the import commands, the upload task (crm.tasks) and the bulk
ingest API call. Both paths parse through the same layouts and store through the same
batches, so a file row and an API item with the same values store the same thing and are
refused for the same reasons.
"""

import csv
import io
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager as ContextManager
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from django.core.files.storage import default_storage
from django.db import transaction

from crm.core.jobs import create_job, fail_job, finish_job, start_job
from crm.core.log_redaction import redact_personal_data
from crm.core.models import Job, JobStatus
from crm.exceptions import ImportRefused
from crm.selectors import IMPORT_JOB_KIND_PREFIX
from crm.services import statistics
from crm.services.imports import reports
from crm.services.imports.batches import prepare_batch, read_ahead, store_batch
from crm.services.imports.cells import _RowRefused
from crm.services.imports.layouts import (
    cells_from_item,
    estimate_rows,
    item_place,
    layout_of,
    line_place,
    plan_from_header,
    read_batches,
    read_header,
)
from crm.services.imports.results import ImportResult, RowError
from crm.services.metrics import recompute_customer_metrics

# Rows per batch (one transaction, one staging table, one upsert per table). 200,000 orders
# on the shared 2-core machine, medians of 3: 5,000-row batches 15.6 s, 20,000 13.2 s,
# 50,000 15.3 s. A 20,000-row batch holds ~19 MB of parsed rows; two are in flight.
BATCH_SIZE = 20_000
# The bulk API takes at most this many items per request; one request is one transaction.
MAX_BULK_ITEMS = 5_000
FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED)


def import_csv_file(
    *,
    kind: str,
    path: Path | str,
    now: datetime,
    job: Job | None = None,
    created_by=None,
    on_progress: Callable[[int, int], object] | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportResult:
    """Import a CSV file of `kind` (an ImportKind value) in batches; return the counts.

    The file must be UTF-8 CSV whose first line is a header of the kind's columns;
    otherwise ImportRefused is raised before any row is stored. Each batch of `batch_size`
    rows is its own transaction; every good row is stored and every bad row is reported
    with its line number. Idempotent: importing the same file again creates and rewrites
    nothing. The metrics of the customers whose rows were written are recomputed as of
    `now`.

    Progress goes to `job` (created when None) with every batch, and to
    `on_progress(rows_in_batch, estimated_total_rows)`. The job ends succeeded with the
    summary, or failed with the reason the file was refused or the import stopped; its
    refused rows are kept for their download (reports).
    """
    layout_of(kind)  # an unknown kind: ValueError before any job is created
    path = Path(path)
    if job is None:
        job = create_job(kind=IMPORT_JOB_KIND_PREFIX + kind, label=path.name, created_by=created_by)
    return _import_csv(
        kind=kind,
        open_binary=lambda: path.open("rb"),
        now=now,
        job=job,
        on_progress=on_progress,
        batch_size=batch_size,
    )


def run_import_job(
    *, job_id: int, kind: str, upload_name: str, now: datetime
) -> ImportResult | None:
    """Run the import a page upload queued (crm.tasks.import_csv_file_task).

    The file is read through the default storage under `upload_name` (uploads), so the
    worker needs no disk shared with the site, and is deleted once the job has ended.

    Safe to run twice: a job that already finished is left alone (returns None); a job
    interrupted mid-way starts over from its first row with its counters reset, which the
    idempotent upserts allow. A refused file ends the job failed with the reason and
    returns None rather than raising, so the task is not retried.
    """
    job = Job.objects.get(pk=job_id)
    try:
        if job.is_finished:
            return None
        Job.objects.filter(pk=job.pk).update(done=0, succeeded=0, failed=0, errors=[])
        reports.forget_refused_rows(job=job)
        job.refresh_from_db()
        try:
            return _import_csv(
                kind=kind,
                open_binary=lambda: default_storage.open(upload_name, "rb"),
                now=now,
                job=job,
            )
        except ImportRefused:
            return None
    finally:
        # An unfinished job (the process is stopping) keeps its file for the next delivery.
        if Job.objects.filter(pk=job.pk, status__in=FINISHED).exists():
            default_storage.delete(upload_name)


def _import_csv(
    *,
    kind: str,
    open_binary: Callable[[], ContextManager[BinaryIO]],
    now: datetime,
    job: Job,
    on_progress: Callable[[int, int], object] | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportResult:
    """import_csv_file, for a file `open_binary` opens (twice: to check, then to read)."""
    layout = layout_of(kind)
    try:
        total = estimate_rows(open_binary)
        with open_binary() as binary:
            reader = csv.reader(io.TextIOWrapper(binary, encoding="utf-8-sig", newline=""))
            header = read_header(reader)
            plan = plan_from_header(layout, header, now=now)
            start_job(job=job, now=now, total=total)
            reports.keep_header(job=job, header=header)
            result = ImportResult(kind=kind)
            known: set[str] = set()
            batches = read_ahead(
                read_batches(reader, batch_size),
                lambda rows: prepare_batch(plan, rows, place=line_place),
            )
            # closing(): on an error the reader thread is stopped before the file closes.
            with closing(batches):
                for rows, prepared in batches:
                    outcome = store_batch(
                        plan, rows, prepared, now=now, known_customers=known, job=job
                    )
                    result.add(outcome)
                    if on_progress is not None:
                        on_progress(len(rows), total)
        result.customers_recomputed = _recompute_metrics(result, now=now)
        statistics.refresh_statistics(written=_written_tables(result), always=True)
    except ImportRefused as refusal:
        fail_job(job=job, now=now, message=refusal.detail)
        raise
    except Exception as error:
        # The first line only: a database error's DETAIL quotes the failing row (PII);
        # and a first line may quote a value too.
        first_line = (str(error).splitlines() or [type(error).__name__])[0]
        message = f"The import stopped: {redact_personal_data(first_line)}"
        fail_job(job=job, now=now, message=message)
        raise
    finish_job(job=job, now=now, message=result.summary())
    return result


@transaction.atomic
def ingest_records(*, kind: str, items: Sequence, now: datetime) -> ImportResult:
    """Upsert API items of `kind` exactly as the CSV import upserts rows.

    Each item is a JSON object keyed by the kind's CSV column names; numbers and booleans
    are accepted where the CSV takes their text, and `tags` and `identities` may be lists.
    Keys an item leaves out are not written, as columns absent from a CSV header. Bad items
    are refused with their index and reason; the others are stored. Atomic: the whole
    request, metrics recompute included, commits or nothing does. At most MAX_BULK_ITEMS.
    """
    layout = layout_of(kind)
    if len(items) > MAX_BULK_ITEMS:
        raise ValueError(f"at most {MAX_BULK_ITEMS} items per request")
    result = ImportResult(kind=kind, error_limit=MAX_BULK_ITEMS)
    refused: list[RowError] = []
    # Items with the same keys share a plan (the columns written), like a CSV header.
    groups: dict[tuple[str, ...], list[tuple[int, list[str]]]] = {}
    for index, item in enumerate(items):
        try:
            names, cells = cells_from_item(layout, item)
        except _RowRefused as refusal:
            refused.append(RowError(index, refusal.reason))
            continue
        groups.setdefault(names, []).append((index, cells))
    known: set[str] = set()
    for names, rows in groups.items():
        plan = plan_from_header(layout, names, now=now)
        prepared = prepare_batch(plan, rows, place=item_place)
        result.add(store_batch(plan, rows, prepared, now=now, known_customers=known))
    result.refused += len(refused)
    result.errors = sorted([*result.errors, *refused], key=lambda error: error.position)
    result.customers_recomputed = _recompute_metrics(result, now=now)
    statistics.refresh_statistics(written=_written_tables(result))
    return result


# The tables each kind of import writes (besides the placeholder customers of unknown
# references; the recompute sees to the metric columns it rewrites).
_TABLES_OF_KIND = {
    "customers": ("crm_customer", "crm_identity", "crm_customer_tags"),
    "orders": ("crm_order",),
    "order_items": ("crm_orderitem",),
    "events": ("crm_behaviourevent",),
    "referrals": ("crm_referral",),
}


def _written_tables(result: ImportResult) -> dict[str, int]:
    """Rows written per table, as far as the result counts them."""
    written = dict.fromkeys(_TABLES_OF_KIND[result.kind], result.created + result.updated)
    written["crm_customer"] = written.get("crm_customer", 0) + result.placeholders_created
    return written


def _recompute_metrics(result: ImportResult, *, now: datetime) -> int:
    """Recompute the derived metrics of exactly the customers the import wrote.

    Once, after the last batch: a customer's orders are spread over many batches, so
    per-batch recomputes would repeat the work several times. If the process dies before
    this, the nightly recompute_customer_metrics_task catches up.
    """
    if not result.touched_customer_ids:
        return 0
    return recompute_customer_metrics(
        as_of=now, customer_ids=result.touched_customer_ids
    ).customers_in_scope
