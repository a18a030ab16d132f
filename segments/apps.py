"""App config of segments: rule trees, the field catalogue, the compiler, segment lifecycle."""

from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "segments"
    verbose_name = "Segments"
