"""The PostgreSQL settings the heavy segment queries run with: the preview's counts and the
refresh's member query (and the benchmark that measures both)."""

from django.db import connection

# PostgreSQL settings of the heavy segment queries (preview counts, the refresh's member
# query), SET LOCAL for their transaction only. Measured with bench/bench_segments.py on
# 1M customers / 10M orders, the 3-level nested rule: 4.3 s at the database's defaults,
# 2.2 s with these. JIT compilation alone took 1.3 s of it (these plans are scans, hashes
# and aggregates, which JIT barely speeds up), and with 4 MB of work_mem each per-customer
# GROUP BY ran as an index scan over every order in customer order instead of an
# in-memory hash aggregate. 32 MB holds the ~200k groups per parallel worker of 1M
# customers.
SEGMENT_QUERY_SETTINGS = {"jit": "off", "work_mem": "32MB"}


def apply_segment_query_settings(**extra: str) -> None:
    """SET LOCAL the SEGMENT_QUERY_SETTINGS (and `extra`) until the current transaction
    ends. Call inside transaction.atomic()."""
    settings = {**SEGMENT_QUERY_SETTINGS, **extra}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join("set_config(%s, %s, true)" for _ in settings),
            [item for pair in settings.items() for item in pair],
        )
