"""App config of the shared infrastructure (jobs, audit log)."""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "crm.core"
    label = "core"
    verbose_name = "Infrastructure"
