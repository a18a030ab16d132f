"""Benchmark harness shared by every bench script (issue #2 harness rules).

Prints the machine, versions and the PostgreSQL settings a run used; runs the product and
the hand-written SQL baseline interleaved (A/B/A/B) after a warm-up and reports medians.
Benchmarks are not part of the test suite.
"""

import os
import platform
import statistics
import time
from collections.abc import Callable

import django
import psycopg

PG_SETTINGS = (
    "shared_buffers",
    "work_mem",
    "max_parallel_workers_per_gather",
    "max_parallel_workers",
    "jit",
    "synchronous_commit",
)


def setup_django(database_url: str) -> None:
    """Point Django at the benchmark database and set it up."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    os.environ.setdefault("DEBUG", "true")
    django.setup()


def print_environment(dsn: str) -> None:
    """Cores, memory, versions and the PostgreSQL settings in force."""
    with open("/proc/meminfo") as meminfo:
        total_kb = int(meminfo.readline().split()[1])
    print(
        f"machine: {os.cpu_count()} cores, {total_kb / 1024 / 1024:.1f} GiB, {platform.machine()}"
    )
    print(
        f"versions: Python {platform.python_version()}, Django {django.get_version()}, "
        f"psycopg {psycopg.__version__}"
    )
    with psycopg.connect(dsn) as connection:
        version = connection.execute("SHOW server_version").fetchone()[0]
        settings = ", ".join(
            f"{name}={connection.execute(f'SHOW {name}').fetchone()[0]}" for name in PG_SETTINGS
        )
    print(f"PostgreSQL {version}: {settings}")


def interleave(
    cases: dict[str, Callable[[], object]],
    *,
    runs: int = 5,
    warmup: int = 1,
    before_each: Callable[[str], object] | None = None,
) -> dict[str, list[float]]:
    """Run every case `warmup` times, then `runs` rounds of A, B, A, B...; seconds per run.

    `before_each(name)` resets state before a timed run and is not timed.
    """
    for _ in range(warmup):
        for name, case in cases.items():
            if before_each:
                before_each(name)
            case()
    timings: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, case in cases.items():
            if before_each:
                before_each(name)
            started = time.perf_counter()
            case()
            timings[name].append(time.perf_counter() - started)
    return timings


def median(values: list[float]) -> float:
    return statistics.median(values)


def print_table(rows: list[dict], *, title: str = "") -> None:
    """A plain fixed-width table; every row has the same keys."""
    if title:
        print(f"\n{title}")
    if not rows:
        return
    headers = list(rows[0])
    cells = [[_cell(row[h]) for h in headers] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
