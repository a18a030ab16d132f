"""manage.py import_customers FILE.csv: upsert customers from a CSV file (SPEC §1).

The other import commands (import_orders, import_order_items, import_events) are this
command with another kind, so ImportCommand lives here.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, OutputWrapper
from django.utils import timezone
from tqdm import tqdm

from crm.enums import ImportKind
from crm.exceptions import ImportRefused
from crm.services.imports import layouts, runs


class _ProgressStream:
    """tqdm's output: the command's stderr, without OutputWrapper's added newlines."""

    def __init__(self, wrapper: OutputWrapper) -> None:
        self.wrapper = wrapper

    def write(self, text: str) -> None:
        self.wrapper.write(text, ending="")

    def flush(self) -> None:
        self.wrapper.flush()


class ImportCommand(BaseCommand):
    """Import one CSV file of `kind`: progress bar on stderr, summary and bad rows on stdout.

    Exits 0 when the file was read, even with refused rows; exits 1 when the file is
    unreadable or its header does not fit (nothing stored then).
    """

    kind = ImportKind.CUSTOMERS

    @property
    def help(self) -> str:
        columns = ",".join(layouts.LAYOUTS[self.kind].names)
        return f"Upsert {ImportKind(self.kind).label.lower()} from a CSV file ({columns})."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="UTF-8 CSV file whose first line is the header")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=runs.BATCH_SIZE,
            help=f"rows per transaction (default {runs.BATCH_SIZE:,})",
        )

    def handle(self, *args, file: Path, batch_size: int, verbosity: int, **options):
        bars: list[tqdm] = []

        def progress(rows: int, total: int) -> None:
            # Created on the first batch, so a refused file shows no bar.
            if not bars:
                bars.append(
                    tqdm(
                        total=total,
                        unit=" rows",
                        desc=file.name,
                        file=_ProgressStream(self.stderr),
                        disable=verbosity == 0,
                    )
                )
            bars[0].update(rows)

        try:
            result = runs.import_csv_file(
                kind=self.kind,
                path=file,
                now=timezone.now(),
                on_progress=progress,
                batch_size=batch_size,
            )
        except ImportRefused as refusal:
            raise CommandError(refusal.detail) from None
        finally:
            for bar in bars:
                bar.close()
        self.stdout.write(result.summary())
        for error in result.errors:
            self.stdout.write(f"line {error.position}: {error.reason}")
        if result.refused > len(result.errors):
            self.stdout.write(f"... and {result.refused - len(result.errors):,} more refused rows")


class Command(ImportCommand):
    kind = ImportKind.CUSTOMERS
