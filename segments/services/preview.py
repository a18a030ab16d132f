"""The builder's live count of a rule tree: how many customers match, a sample, and the
rules in one sentence.

A preview writes nothing, but it is a service because it manages the database work it
starts: the count stops after settings.SEGMENT_STATEMENT_TIMEOUT_SECONDS, and a marketer's
newer edit cancels the count of the older one still running (each preview tags its
connection with the builder session, and the next preview of that session cancels the query
carrying the tag).
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import OperationalError, connections
from psycopg import errors as pg_errors

from crm.core.replica import report_database, report_reads
from segments import selectors
from segments.describe import describe_rule_tree
from segments.exceptions import PreviewStopped
from segments.models import Segment
from segments.rules import parse_rule_tree
from segments.services.query_settings import segment_query_time_limit

PREVIEW_APPLICATION_PREFIX = "opscrm-preview"


def preview_segment_rules(
    *,
    rules: Mapping[str, Any],
    as_of: datetime,
    as_of_is_now: bool,
    segment: Segment | None = None,
    viewer_id: int | None = None,
    builder_session: str = "",
    sample_size: int = selectors.DEFAULT_SAMPLE_SIZE,
) -> dict[str, Any]:
    """Count, total, sample and sentence of the customers matching `rules` at `as_of`.

    Writes nothing, and reads the read replica when there is one (DATABASE_REPLICA_URL).
    A preview from a builder session (`builder_session`, per viewer) first cancels, with
    pg_cancel_backend, the previous preview of that same session still running on the
    database it reads: an edit supersedes it, and the superseded preview raises
    PreviewStopped. A count slower than SEGMENT_STATEMENT_TIMEOUT_SECONDS is stopped and
    raises SegmentQueryTimedOut. Raises RuleError for invalid rules (`segment` is the
    segment being edited, so a reference back to it is refused as a cycle).
    """
    node = parse_rule_tree(rules, segment_id=segment.pk if segment else None)
    tag = _preview_tag(viewer_id, builder_session) if builder_session else ""
    with report_reads():
        if tag:
            _cancel_running_previews(tag)
        preview = _counted(
            {"application_name": tag} if tag else {},
            rules=rules,
            as_of=as_of,
            as_of_is_now=as_of_is_now,
            segment=segment,
            sample_size=sample_size,
        )
    return {**preview, "description": describe_rule_tree(node)}


def _counted(tagged: dict[str, str], **preview) -> dict[str, Any]:
    # Local settings end with the transaction, so a pooled connection never keeps the tag
    # (and is never cancelled as this session's preview later).
    try:
        with segment_query_time_limit(**tagged):
            return selectors.segment_preview(**preview)
    except OperationalError as error:
        # The time limit's cancel is SegmentQueryTimedOut already; this one is another
        # preview's pg_cancel_backend.
        if not isinstance(error.__cause__, pg_errors.QueryCanceled):
            raise
        raise PreviewStopped(
            "preview_superseded", "A newer preview from the same builder replaced this one."
        ) from None


def _preview_tag(viewer_id: int | None, builder_session: str) -> str:
    # PostgreSQL keeps 63 bytes of application_name; the session token is at most 32.
    return f"{PREVIEW_APPLICATION_PREFIX}:{viewer_id or 0}:{builder_session}"[:63]


def _cancel_running_previews(tag: str) -> None:
    """Cancel the queries of other connections running a preview with this tag.

    A connection whose preview finished has lost the tag (SET LOCAL), so only a preview
    still counting is cancelled.
    """
    with connections[report_database()].cursor() as cursor:
        cursor.execute(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND datname = current_database() "
            "AND pid <> pg_backend_pid()",
            [tag],
        )
