"""Celery application; configuration comes from Django settings (CELERY_* names)."""

import os

from celery import Celery, signals
from kombu.transport import TRANSPORT_ALIASES

from crm.core.log_redaction import RedactPersonalData

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
# filesystem:// (the demo's and the tests' broker) writes its messages atomically.
TRANSPORT_ALIASES["filesystem"] = "crm.core.broker:Transport"

app = Celery("opscrm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def redact_personal_data_in_worker_logs(logger, **kwargs) -> None:
    """A worker replaces the root log handlers (settings LOGGING) with its own; they get
    the same filter, so a failed task's traceback quotes no phone or e-mail (SPEC §9)."""
    for handler in logger.handlers:
        handler.addFilter(RedactPersonalData())
