"""CSV files uploaded on the import page: kept through Django's storage API until their
import ends.

The page saves the file to `default_storage` (STORAGES["default"]: FileSystemStorage under
MEDIA_ROOT unless the deployment names another backend, such as a django-storages bucket
shared by the site and the workers) and queues the import with the file's storage name, so
the worker reads it through the same storage, on whichever machine it runs (SPEC §8). The
file is deleted once its import ends, succeeded or failed: the refused rows' download reads
what the import kept (reports), never the file.
"""

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from crm import tasks
from crm.core.jobs import create_job
from crm.core.models import Job
from crm.selectors import IMPORT_JOB_KIND_PREFIX
from crm.services.imports.layouts import layout_of

# The storage folder of uploaded files waiting for (or being read by) their import.
UPLOAD_DIRECTORY = "imports"


@transaction.atomic
def start_csv_import(*, kind: str, upload: UploadedFile, created_by) -> Job:
    """Save an uploaded CSV in the default storage and queue its import; return the job.

    The job stays pending until crm.tasks.import_csv_file_task runs; the task is enqueued
    when this transaction commits (and runs inline in the demo and in tests).
    """
    layout_of(kind)
    job = create_job(kind=IMPORT_JOB_KIND_PREFIX + kind, label=upload.name, created_by=created_by)
    # The storage may pick another name (one already taken); the task gets the one it chose.
    name = default_storage.save(f"{UPLOAD_DIRECTORY}/job-{job.pk}.csv", upload)
    transaction.on_commit(lambda: tasks.import_csv_file_task.delay(job.pk, kind, name))
    return job


def delete_upload(name: str) -> None:
    """Delete an uploaded file once its import has ended (no error when already gone)."""
    default_storage.delete(name)
