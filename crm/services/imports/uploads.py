"""CSV files uploaded on the import page: kept under MEDIA_ROOT/imports/, imported by a
Celery task, and re-read for the "download the refused rows" link.

The file stays after its import so the refused rows can be downloaded as uploaded, with
the reason in front, fixed by the marketer and uploaded again.
"""

import csv
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from crm import tasks
from crm.core.jobs import create_job
from crm.core.models import Job
from crm.selectors import IMPORT_JOB_KIND_PREFIX
from crm.services.imports.layouts import layout_of

# Uploaded files are kept under MEDIA_ROOT for the import task and for the "download the
# refused rows" link, which re-reads them.
UPLOAD_DIRECTORY = "imports"
# Personal data never quoted in a reason nor exported without the permission (SPEC §9).
PII = frozenset({"phone", "email"})


@transaction.atomic
def start_csv_import(*, kind: str, upload: UploadedFile, created_by) -> Job:
    """Save an uploaded CSV under MEDIA_ROOT/imports/ and queue its import; return the job.

    The job stays pending until crm.tasks.import_csv_file_task runs; the task is enqueued
    when this transaction commits (and runs inline in the demo and in tests).
    """
    layout_of(kind)
    job = create_job(kind=IMPORT_JOB_KIND_PREFIX + kind, label=upload.name, created_by=created_by)
    path = uploaded_file_path(job)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as destination:
        for chunk in upload.chunks():
            destination.write(chunk)
    transaction.on_commit(lambda: tasks.import_csv_file_task.delay(job.pk, kind, str(path)))
    return job


def uploaded_file_path(job: Job) -> Path:
    """Where the upload page keeps the CSV file of `job`."""
    return Path(settings.MEDIA_ROOT) / UPLOAD_DIRECTORY / f"job-{job.pk}.csv"


def refused_rows(*, job: Job, show_pii: bool) -> tuple[list[str], Iterator[list[str]]]:
    """Header and rows of the refused rows of an import job: line, reason, then the row's
    cells as uploaded, so the marketer can fix and upload them again.

    Re-reads the uploaded file as a stream (never whole in memory). Phone and e-mail cells
    are blanked unless `show_pii`. Without the file (an import from the command line) the
    rows hold line and reason only. Covers the job's reported errors (the first
    MAX_REPORTED_ERRORS).
    """
    reasons = {error["line"]: error["reason"] for error in job.errors}
    path = uploaded_file_path(job)
    if not path.exists():
        return ["line", "reason"], ([str(line), reason] for line, reason in sorted(reasons.items()))
    with path.open(encoding="utf-8-sig", newline="", errors="replace") as handle:
        header = next(csv.reader(handle), [])
    hidden = set() if show_pii else {i for i, name in enumerate(header) if name.strip() in PII}

    def rows() -> Iterator[list[str]]:
        with path.open(encoding="utf-8-sig", newline="", errors="replace") as handle:
            reader = csv.reader(handle)
            next(reader, None)
            while reasons:
                line = reader.line_num + 1
                try:
                    cells = next(reader)
                except (StopIteration, csv.Error):
                    break
                if line in reasons:
                    cells = ["" if i in hidden else cell for i, cell in enumerate(cells)]
                    yield [str(line), reasons.pop(line), *cells]
        for line, reason in sorted(reasons.items()):
            yield [str(line), reason]

    return ["line", "reason", *header], rows()
