"""The builder's live count of a rule tree: how many customers match, a sample, and the
rules in one sentence.

A preview writes nothing, but it is a service because it manages the database work it
starts: the count stops after PREVIEW_TIMEOUT_MS, and a marketer's newer edit cancels the
count of the older one still running (each preview tags its connection with the builder
session, and the next preview of that session cancels the query carrying the tag).
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import OperationalError, connection, transaction
from psycopg import errors as pg_errors

from segments import selectors
from segments.describe import describe_rule_tree
from segments.exceptions import PreviewStopped
from segments.models import Segment
from segments.rules import parse_rule_tree
from segments.services.query_settings import apply_segment_query_settings

# A preview slower than this is stopped on the database; the builder counts again at the
# next edit. Every reference rule counts in < 5 s on 1M customers (bench_segments.py).
PREVIEW_TIMEOUT_MS = 20_000
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

    Writes nothing. The counting stops after PREVIEW_TIMEOUT_MS, and a preview from a
    builder session (`builder_session`, per viewer) first cancels, with pg_cancel_backend,
    the previous preview of that same session still running on the database: an edit
    supersedes it. The superseded or too slow preview raises PreviewStopped. Raises
    RuleError for invalid rules (`segment` is the segment being edited, so a reference back
    to it is refused as a cycle).
    """
    node = parse_rule_tree(rules, segment_id=segment.pk if segment else None)
    tag = _preview_tag(viewer_id, builder_session) if builder_session else ""
    if tag:
        _cancel_running_previews(tag)
    try:
        with transaction.atomic():
            # Local settings end with this transaction, so a pooled connection never keeps
            # the tag (and is never cancelled as this session's preview later).
            tagged = {"application_name": tag} if tag else {}
            apply_segment_query_settings(statement_timeout=str(PREVIEW_TIMEOUT_MS), **tagged)
            preview = selectors.segment_preview(
                rules=rules,
                as_of=as_of,
                as_of_is_now=as_of_is_now,
                segment=segment,
                sample_size=sample_size,
            )
    except OperationalError as error:
        if not isinstance(error.__cause__, pg_errors.QueryCanceled):
            raise
        if "statement timeout" in str(error.__cause__):
            raise PreviewStopped(
                "preview_timeout",
                f"Counting took longer than {PREVIEW_TIMEOUT_MS / 1000:g} s and was stopped.",
            ) from None
        raise PreviewStopped(
            "preview_superseded", "A newer preview from the same builder replaced this one."
        ) from None
    return {**preview, "description": describe_rule_tree(node)}


def _preview_tag(viewer_id: int | None, builder_session: str) -> str:
    # PostgreSQL keeps 63 bytes of application_name; the session token is at most 32.
    return f"{PREVIEW_APPLICATION_PREFIX}:{viewer_id or 0}:{builder_session}"[:63]


def _cancel_running_previews(tag: str) -> None:
    """Cancel the queries of other connections running a preview with this tag.

    A connection whose preview finished has lost the tag (SET LOCAL), so only a preview
    still counting is cancelled.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND datname = current_database() "
            "AND pid <> pg_backend_pid()",
            [tag],
        )
