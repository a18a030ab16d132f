from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    """Reports on what campaigns returned (SPEC §6): reads only, never writes the data it
    reports on."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "analytics"
