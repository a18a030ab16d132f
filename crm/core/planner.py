"""Settings of PostgreSQL's planner that a piece of work needs for itself."""

from django.db import connection


def without_jit() -> None:
    """JIT off for the rest of the current transaction. A scheduled push's statements are
    index probes of one batch, but planned with statistics taken before the push they look
    costly, and JIT compiled them for 0.25 s a statement (a 1,000,000-customer push on a
    database whose statistics predate it)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
