"""Business refusals of segments: data with a reason, mapped to 409 by crm.core.api.

A rule tree the catalogue refuses is not here: RuleError belongs to the parser's contract
(segments.rules), answers 400 with the node's path, and is a ValueError, not a refusal.
"""

from crm.core.api import DomainRefusal


class SegmentInUse(DomainRefusal):
    """A segment that campaigns or other segments' rules still use cannot be deleted."""

    def __init__(self, detail: str) -> None:
        super().__init__("segment_in_use", detail)


class SnapshotUploadRefused(DomainRefusal):
    """An uploaded customer-id list that stores nobody (empty, unreadable, all unknown)."""


class PreviewStopped(DomainRefusal):
    """A preview stopped on the database: superseded by a newer edit, or too slow."""


class SegmentQueryTimedOut(DomainRefusal):
    """A preview, member list, overlap or export query that PostgreSQL cancelled after
    settings.SEGMENT_STATEMENT_TIMEOUT_SECONDS. The API answers 422: the request was
    understood, but these rules cost more than one query may take."""

    http_status = 422

    def __init__(self, seconds: float) -> None:
        super().__init__(
            "statement_timeout",
            f"Finding the customers took longer than {seconds:g} s and was stopped; try "
            "simpler rules, or try again later.",
        )
