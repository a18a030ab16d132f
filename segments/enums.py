"""Choices of the segments domain; each value is the string the rule JSON and the API use."""

from django.db import models


class SegmentKind(models.TextChoices):
    DYNAMIC = "dynamic", "Dynamic (evaluated whenever used)"
    SNAPSHOT = "snapshot", "Snapshot (membership frozen or uploaded)"


class Operator(models.TextChoices):
    """SPEC §2 operators; each field declares the ones it accepts."""

    EQ = "eq", "is"
    NE = "ne", "is not"
    GT = "gt", "is more than"
    GTE = "gte", "is at least"
    LT = "lt", "is less than"
    LTE = "lte", "is at most"
    BETWEEN = "between", "is between"
    IN = "in", "is one of"
    NOT_IN = "not_in", "is none of"
    HAS = "has", "has"
    NOT_HAS = "not_has", "does not have"
    IS_NULL = "is_null", "is unknown"
    BEFORE = "before", "is before"
    AFTER = "after", "is after"
    WITHIN_LAST_DAYS = "within_last_days", "is within the last days"


class ValueType(models.TextChoices):
    """What a condition's value holds, for validation and for the builder's inputs."""

    INTEGER = "integer", "Whole number"
    DECIMAL = "decimal", "Number"
    TEXT = "text", "Text"
    CHOICE = "choice", "One of a fixed list"
    BOOLEAN = "boolean", "Yes or no"
    # A calendar date (the whole day in TIME_ZONE) or a date-time with its UTC offset.
    DATETIME = "datetime", "Date or date-time"
    SEGMENT = "segment", "Segment"


class FieldFamily(models.TextChoices):
    """How the builder groups fields in its menu."""

    PROFILE = "profile", "Profile"
    PURCHASES = "purchases", "Purchases"
    BEHAVIOUR = "behaviour", "Behaviour"
    LABELS = "labels", "Labels"
