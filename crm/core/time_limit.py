"""The time limit of database work a person waits for: a page's or an API call's queries
run in one transaction whose statement timeout is the time left of the limit, so that a
heavy request answers a clear refusal instead of holding a web worker until the server
kills it (gunicorn's timeout, 60 s in gunicorn.conf.py).
"""

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import OperationalError, connections, transaction
from psycopg import errors as pg_errors

from crm.core.replica import report_database

# What the limit raises, given the limit in seconds.
TimedOut = Callable[[float], Exception]


@contextmanager
def query_time_limit(
    seconds: float, *, timed_out: TimedOut, settings: dict[str, str] | None = None
) -> Iterator[Callable[[], None]]:
    """Run the block in a transaction on the database reads use now (the replica inside
    crm.core.replica.report_reads()), with `settings` SET LOCAL and a statement timeout of
    the time left of `seconds`.

    The block gets `next_step`: called between statements, it re-arms the timeout with the
    time left, so that the block's statements share the `seconds` in all; once the time is
    out it raises `timed_out(seconds)`. A statement the timeout cancels raises
    `timed_out(seconds)` too (the transaction is rolled back and the connection's own
    settings are back). A statement cancelled for another reason (pg_cancel_backend) is
    re-raised as the OperationalError it is. `seconds` may be math.inf: no limit.
    """
    started = time.monotonic()
    alias = report_database()

    def arm(extra: dict[str, str]) -> None:
        left = seconds - (time.monotonic() - started)
        if left <= 0:
            raise timed_out(seconds)
        # PostgreSQL counts whole milliseconds, and 0 means no limit at all.
        limit = "0" if math.isinf(left) else str(max(round(left * 1000), 1))
        values = {**extra, "statement_timeout": limit}
        with connections[alias].cursor() as cursor:
            cursor.execute(
                "SELECT " + ", ".join("set_config(%s, %s, true)" for _ in values),
                [item for pair in values.items() for item in pair],
            )

    try:
        with transaction.atomic(using=alias):
            arm(settings or {})
            yield lambda: arm({})
    except OperationalError as error:
        if not isinstance(error.__cause__, pg_errors.QueryCanceled):
            raise
        # The message does not tell a timeout reliably: a parallel query reports its
        # workers' "canceling statement due to user request" when the leader's timeout
        # stops them. A cancel after the limit has passed is the limit's.
        if "statement timeout" in str(error.__cause__) or (time.monotonic() - started >= seconds):
            raise timed_out(seconds) from None
        raise
