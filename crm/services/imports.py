"""CSV and bulk JSON imports of customers, orders, order items and behaviour events.

SPEC §1 "Ingestion" and §5 bulk ingest. The CSV commands, the upload page and the bulk API
share one path; only where rows come from differs:

    parse, validate   csv.reader (or the API's items), column by column in Python; each
                      bad row becomes a RowError naming its line (or item) and the problem,
                      and the good rows of the same batch go on
    stage             the batch's good rows go into a TEMP staging table typed like the
                      target columns: COPY on PostgreSQL, executemany on SQLite (the demo)
    resolve           references to unknown customers create placeholders, set-based
                      (crm.services.identities)
    upsert            one INSERT ... SELECT ... ON CONFLICT per target table; DO UPDATE only
                      WHERE (columns) IS DISTINCT FROM (EXCLUDED columns), so a re-import
                      adds 0 rows and rewrites 0 rows; events DO NOTHING on their natural key
    metrics           after the last batch, crm.services.metrics recomputes exactly the
                      customers whose rows were written

Each batch commits on its own, with its job progress, so a large file shows progress and a
failure loses at most the batch in flight. Metrics are recomputed once at the end: a
customer's orders are spread over many batches, so per-batch recomputes would repeat the
work several times. If the process dies before that, the nightly
recompute_customer_metrics_task catches up.

Cells are validated a column at a time: a fast path checks a whole column with C-level
builtins (fromisoformat, Decimal, set and regex scans) and falls back to cell by cell
only when something in the column is wrong, to name each bad cell. An orders row takes
~3 µs column-wise against ~6.5 µs cell by cell (best of 8 runs over 200,000 rows).

File semantics, in the words the reports use:
- Only the columns in the header are written: a customers file without `city` leaves every
  customer's city as it was. A column that is present but blank clears the value (blank
  `status` means `paid`, blank `is_member` means false). `tags` lists the customer's tags:
  tags not listed are removed from the customer. `identities` only ever adds links.
- A row with several bad cells is reported once, for its first bad column.
- The same key twice in one batch (a customer id, an order id, an order id + sku): the last
  row wins and the earlier ones are refused with a reason saying so. A key repeated in a
  later batch updates what the earlier batch stored. Repeated events are one event.
- A customer whose personal data was erased keeps name, phone, e-mail and birth date blank
  and gets no identity back (crm.services.erasure).

Dialect split (everything else is one SQL text for both databases): how staging is filled;
`IS DISTINCT FROM` (SQLite spells the row comparison `IS NOT`); and how the upsert reports
which rows it created and who owned an updated order before. PostgreSQL answers in the
upsert's RETURNING: `xmax = 0` marks a row version the statement inserted, and a subquery
in RETURNING reads the statement's snapshot, i.e. the row before the update. SQLite's
RETURNING sees the new row, so on SQLite the keys already stored are read just before.
"""

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from itertools import repeat
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import validate_email
from django.db import connection, models, transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from crm import tasks
from crm.core.api import DomainRefusal
from crm.core.jobs import (
    MAX_REPORTED_ERRORS,
    create_job,
    fail_job,
    finish_job,
    record_job_progress,
    start_job,
)
from crm.core.models import Job
from crm.enums import EventKind, Gender, OrderStatus
from crm.models import BehaviourEvent, Customer, Identity, Order, OrderItem, Tag
from crm.services import identities
from crm.services.erasure import ERASED_FIELDS
from crm.services.metrics import recompute_customer_metrics

# Rows per batch (one transaction, one staging table, one upsert per table). 200,000 orders
# on the shared 2-core machine, medians of 3: 5,000-row batches 15.6 s, 20,000 13.2 s,
# 50,000 15.3 s. A 20,000-row batch holds ~19 MB of parsed rows; two are in flight.
BATCH_SIZE = 20_000
# Plain customer ids an import remembers as existing, so later batches skip looking them up
# (_create_referenced_customers); ~90 bytes each, so at most ~45 MB.
KNOWN_CUSTOMERS_LIMIT = 500_000
# The bulk API takes at most this many items per request; one request is one transaction.
MAX_BULK_ITEMS = 5_000
# Uploaded files are kept under MEDIA_ROOT for the import task and for the "download the
# refused rows" link, which re-reads them.
UPLOAD_DIRECTORY = "imports"
JOB_KIND_PREFIX = "import_"


class ImportKind(models.TextChoices):
    CUSTOMERS = "customers", "Customers"
    ORDERS = "orders", "Orders"
    ORDER_ITEMS = "order_items", "Order items"
    EVENTS = "events", "Behaviour events"


class ImportRefusalReason(models.TextChoices):
    UNREADABLE_FILE = "unreadable_file", "The file cannot be read as UTF-8 CSV"
    BAD_HEADER = "bad_header", "The header row does not fit the kind of import"


class ImportRefused(DomainRefusal):
    """The whole file is refused (unreadable, bad header) before any row is stored."""


@dataclass(frozen=True)
class RowError:
    """One refused row: its CSV line number (or API item index) and why."""

    position: int
    reason: str


@dataclass
class ImportResult:
    """What an import did. Every row read is counted once: created, updated, unchanged
    (already stored with the same values) or refused."""

    kind: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: int = 0
    placeholders_created: int = 0
    customers_recomputed: int = 0
    # The first `error_limit` refusals, in file order; `refused` counts them all.
    errors: list[RowError] = field(default_factory=list)
    error_limit: int = MAX_REPORTED_ERRORS
    # Customers whose rows were written: the scope of the metrics recompute.
    touched_customer_ids: set[int] = field(default_factory=set, repr=False)

    @property
    def rows(self) -> int:
        return self.created + self.updated + self.unchanged + self.refused

    @property
    def stored(self) -> int:
        return self.created + self.updated + self.unchanged

    def summary(self) -> str:
        """One line for the command's output and the job page."""
        text = (
            f"{self.rows:,} {'row' if self.rows == 1 else 'rows'}: {self.created:,} created, "
            f"{self.updated:,} updated, {self.unchanged:,} unchanged, {self.refused:,} refused"
        )
        if self.placeholders_created == 1:
            text += "; 1 unknown customer created as a placeholder"
        elif self.placeholders_created:
            text += f"; {self.placeholders_created:,} unknown customers created as placeholders"
        customers = "customer" if self.customers_recomputed == 1 else "customers"
        return f"{text}; metrics recomputed for {self.customers_recomputed:,} {customers}."

    def add(self, outcome: "_BatchOutcome") -> None:
        self.created += outcome.created
        self.updated += outcome.updated
        self.unchanged += outcome.unchanged
        self.refused += len(outcome.errors)
        self.placeholders_created += outcome.placeholders_created
        room = self.error_limit - len(self.errors)
        self.errors.extend(outcome.errors[:room])
        self.touched_customer_ids |= outcome.touched_customer_ids


# --------------------------------------------------------------------------------------
# Public services
# --------------------------------------------------------------------------------------


def import_csv_file(
    *,
    kind: str,
    path: Path | str,
    now: datetime,
    job: Job | None = None,
    created_by=None,
    on_progress: Callable[[int, int], object] | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportResult:
    """Import a CSV file of `kind` (an ImportKind value) in batches; return the counts.

    The file must be UTF-8 CSV whose first line is a header of the kind's columns;
    otherwise ImportRefused is raised before any row is stored. Each batch of `batch_size`
    rows is its own transaction; every good row is stored and every bad row is reported
    with its line number. Idempotent: importing the same file again creates and rewrites
    nothing. The metrics of the customers whose rows were written are recomputed as of
    `now`.

    Progress goes to `job` (created when None) with every batch, and to
    `on_progress(rows_in_batch, estimated_total_rows)`. The job ends succeeded with the
    summary, or failed with the reason the file was refused or the import stopped.
    """
    layout = _layout(kind)
    if job is None:
        job = create_job(kind=JOB_KIND_PREFIX + kind, label=Path(path).name, created_by=created_by)
    try:
        total = _estimate_rows(Path(path))
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            plan = _plan_from_header(layout, _read_header(reader))
            start_job(job=job, now=now, total=total)
            result = ImportResult(kind=kind)
            vendor = connection.vendor
            known: set[str] = set()
            batches = _read_ahead(
                _read_batches(reader, batch_size),
                lambda rows: _prepare_batch(plan, rows, place=_line_place, vendor=vendor),
            )
            # closing(): on an error the reader thread is stopped before the file closes.
            with closing(batches):
                for rows, prepared in batches:
                    outcome = _store_batch(
                        plan, rows, prepared, now=now, known_customers=known, job=job
                    )
                    result.add(outcome)
                    if on_progress is not None:
                        on_progress(len(rows), total)
        result.customers_recomputed = _recompute_metrics(result, now=now)
    except ImportRefused as refusal:
        fail_job(job=job, now=now, message=refusal.detail)
        raise
    except Exception as error:
        # The first line only: a database error's DETAIL quotes the failing row (PII).
        first_line = (str(error).splitlines() or [type(error).__name__])[0]
        fail_job(job=job, now=now, message=f"The import stopped: {first_line}")
        raise
    finish_job(job=job, now=now, message=result.summary())
    return result


def run_import_job(*, job_id: int, kind: str, path: str, now: datetime) -> ImportResult | None:
    """Run the import a page upload queued (crm.tasks.import_csv_file_task).

    Safe to run twice: a job that already finished is left alone (returns None); a job
    interrupted mid-way starts over from its first row with its counters reset, which the
    idempotent upserts allow. A refused file ends the job failed with the reason and
    returns None rather than raising, so the task is not retried.
    """
    job = Job.objects.get(pk=job_id)
    if job.is_finished:
        return None
    Job.objects.filter(pk=job.pk).update(done=0, succeeded=0, failed=0, errors=[])
    job.refresh_from_db()
    try:
        return import_csv_file(kind=kind, path=path, now=now, job=job)
    except ImportRefused:
        return None


@transaction.atomic
def start_csv_import(*, kind: str, upload: UploadedFile, created_by) -> Job:
    """Save an uploaded CSV under MEDIA_ROOT/imports/ and queue its import; return the job.

    The job stays pending until crm.tasks.import_csv_file_task runs; the task is enqueued
    when this transaction commits (and runs inline in the demo and in tests).
    """
    _layout(kind)
    job = create_job(kind=JOB_KIND_PREFIX + kind, label=upload.name, created_by=created_by)
    path = uploaded_file_path(job)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as destination:
        for chunk in upload.chunks():
            destination.write(chunk)
    transaction.on_commit(lambda: tasks.import_csv_file_task.delay(job.pk, kind, str(path)))
    return job


@transaction.atomic
def ingest_records(*, kind: str, items: Sequence, now: datetime) -> ImportResult:
    """Upsert API items of `kind` exactly as the CSV import upserts rows.

    Each item is a JSON object keyed by the kind's CSV column names; numbers and booleans
    are accepted where the CSV takes their text, and `tags` and `identities` may be lists.
    Keys an item leaves out are not written, as columns absent from a CSV header. Bad items
    are refused with their index and reason; the others are stored. Atomic: the whole
    request, metrics recompute included, commits or nothing does. At most MAX_BULK_ITEMS.
    """
    layout = _layout(kind)
    if len(items) > MAX_BULK_ITEMS:
        raise ValueError(f"at most {MAX_BULK_ITEMS} items per request")
    result = ImportResult(kind=kind, error_limit=MAX_BULK_ITEMS)
    refused: list[RowError] = []
    # Items with the same keys share a plan (the columns written), like a CSV header.
    groups: dict[tuple[str, ...], list[tuple[int, list[str]]]] = {}
    for index, item in enumerate(items):
        try:
            names, cells = _cells_from_item(layout, item)
        except _RowRefused as refusal:
            refused.append(RowError(index, refusal.reason))
            continue
        groups.setdefault(names, []).append((index, cells))
    known: set[str] = set()
    for names, rows in groups.items():
        plan = _plan_from_header(layout, names)
        prepared = _prepare_batch(plan, rows, place=_item_place, vendor=connection.vendor)
        result.add(_store_batch(plan, rows, prepared, now=now, known_customers=known))
    result.refused += len(refused)
    result.errors = sorted([*result.errors, *refused], key=lambda error: error.position)
    result.customers_recomputed = _recompute_metrics(result, now=now)
    return result


def uploaded_file_path(job: Job) -> Path:
    """Where the upload page keeps the CSV file of `job`."""
    return Path(settings.MEDIA_ROOT) / UPLOAD_DIRECTORY / f"job-{job.pk}.csv"


def refused_rows(*, job: Job, show_pii: bool) -> tuple[list[str], Iterator[list[str]]]:
    """Header and rows of the refused rows of an import job: line, reason, then the row's
    cells as uploaded, so the marketer can fix and upload them again.

    Re-reads the uploaded file as a stream (never whole in memory). Phone and e-mail cells
    are blanked unless `show_pii`. Without the file (an import from the command line) the
    rows hold line and reason only. Covers the job's reported errors (the first
    MAX_REPORTED_ERRORS).
    """
    reasons = {error["line"]: error["reason"] for error in job.errors}
    path = uploaded_file_path(job)
    if not path.exists():
        return ["line", "reason"], ([str(line), reason] for line, reason in sorted(reasons.items()))
    with path.open(encoding="utf-8-sig", newline="", errors="replace") as handle:
        header = next(csv.reader(handle), [])
    hidden = set() if show_pii else {i for i, name in enumerate(header) if name.strip() in PII}

    def rows() -> Iterator[list[str]]:
        with path.open(encoding="utf-8-sig", newline="", errors="replace") as handle:
            reader = csv.reader(handle)
            next(reader, None)
            while reasons:
                line = reader.line_num + 1
                try:
                    cells = next(reader)
                except (StopIteration, csv.Error):
                    break
                if line in reasons:
                    cells = ["" if i in hidden else cell for i, cell in enumerate(cells)]
                    yield [str(line), reasons.pop(line), *cells]
        for line, reason in sorted(reasons.items()):
            yield [str(line), reason]

    return ["line", "reason", *header], rows()


# Personal data never quoted in a reason nor exported without the permission (SPEC §9).
PII = frozenset({"phone", "email"})


# Reads for the import pages. They belong with the customer-data selectors; they are here
# while crm/selectors.py has another owner.


def import_jobs():
    """Import jobs, newest first, with who started them and the kind in words."""
    kind_label = Case(
        *(
            When(kind=JOB_KIND_PREFIX + kind, then=Value(label))
            for kind, label in ImportKind.choices
        ),
        default=Value(""),
    )
    return (
        Job.objects.filter(kind__startswith=JOB_KIND_PREFIX)
        .select_related("created_by")
        .annotate(kind_label=kind_label)
        .order_by("-created_at", "-pk")
    )


@dataclass(frozen=True)
class LayoutDescription:
    kind: str
    label: str
    required: tuple[str, ...]
    optional: tuple[str, ...]


def import_layouts() -> list[LayoutDescription]:
    """The columns each kind of file takes, for the upload page."""
    return [
        LayoutDescription(
            kind=kind,
            label=ImportKind(kind).label,
            required=tuple(c.name for c in layout.columns if c.required),
            optional=tuple(c.name for c in layout.columns if not c.required),
        )
        for kind, layout in LAYOUTS.items()
    ]


# --------------------------------------------------------------------------------------
# Cells. Each column type has a cell parser, (column, text) -> value or _RowRefused with
# a reason naming the column and the value, and optionally a fast whole-column parser,
# (texts, blank) -> values, which raises ValueError (or a subclass, or KeyError) on
# anything unusual so the column is redone cell by cell. Phone and e-mail values are
# never quoted back (PII).
# --------------------------------------------------------------------------------------


class _RowRefused(Exception):  # noqa: N818 - control flow for one refused row, not an error
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


CellParser = Callable[[str, str], object]
ColumnParser = Callable[[list[str], object], list]

_shorten = identities.shorten
_DIGITS = re.compile(r"[0-9]+")
_FLAGS = {
    **dict.fromkeys(("true", "t", "yes", "y", "1"), True),
    **dict.fromkeys(("false", "f", "no", "n", "0"), False),
}
_MAX_QUANTITY = 2**31 - 1


def _text(max_length: int) -> tuple[CellParser, ColumnParser]:
    def cell(column: str, text: str) -> str:
        if len(text) > max_length:
            raise _RowRefused(f"{column} is longer than {max_length} characters")
        return text

    def whole(texts: list[str], blank) -> list:
        if max(map(len, texts)) > max_length:
            raise ValueError
        return texts if blank == "" else [text or blank for text in texts]

    return cell, whole


def _choice(choices: type[models.TextChoices]) -> tuple[CellParser, ColumnParser]:
    values = [value for value in choices.values if value]
    allowed = frozenset(values)
    listed = ", ".join(values)

    def cell(column: str, text: str) -> str:
        value = text.lower()
        if value not in allowed:
            raise _RowRefused(f'{column} "{_shorten(text)}" is not one of {listed}')
        return value

    def whole(texts: list[str], blank) -> list:
        found = set(texts)
        found.discard("")
        if not found <= allowed:
            raise ValueError
        return [text or blank for text in texts] if "" in texts else texts

    return cell, whole


def _moment_cell(column: str, text: str) -> datetime:
    """ISO 8601 date or datetime; without an offset it is TIME_ZONE's local time."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _RowRefused(
            f'{column} "{_shorten(text)}" is not an ISO 8601 date or datetime'
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.get_default_timezone())
    return moment


def _moment_column(texts: list[str], blank) -> list:
    zone = timezone.get_default_timezone()
    parse = datetime.fromisoformat
    moments = [parse(text) if text else blank for text in texts]
    return [
        moment.replace(tzinfo=zone) if moment is not None and moment.tzinfo is None else moment
        for moment in moments
    ]


_moment = (_moment_cell, _moment_column)


def _date_cell(column: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _RowRefused(f'{column} "{_shorten(text)}" is not an ISO 8601 date') from None


_date = (_date_cell, lambda texts, blank: [date.fromisoformat(t) if t else blank for t in texts])


def _amount(model: type[models.Model], name: str) -> tuple[CellParser, ColumnParser]:
    """`.` decimal point, optional `,` thousands separators ("1,234.50"), not negative,
    within the field's digits."""
    model_field = model._meta.get_field(name)
    places = model_field.decimal_places
    largest = Decimal(10) ** (model_field.max_digits - places) - Decimal(10) ** -places
    integer = r"(?:\d{1,3}(?:,\d{3})+|\d+)"
    pattern = re.compile(rf"{integer}(?:\.\d+)?")
    # Trailing zeros past the decimal places are harmless ("12.500").
    usual = re.compile(rf"{integer}(?:\.\d{{1,{places}}}0*)?").fullmatch

    def cell(column: str, text: str) -> Decimal:
        quoted = f'{column} "{_shorten(text)}"'
        if text.startswith("-") and pattern.fullmatch(text[1:]):
            raise _RowRefused(f"{quoted} is negative")
        if not pattern.fullmatch(text):
            raise _RowRefused(f"{quoted} is not a decimal amount")
        if len(text.partition(".")[2].rstrip("0")) > places:
            raise _RowRefused(f"{quoted} has more than {places} decimal places")
        value = Decimal(text.replace(",", ""))
        if value > largest:
            raise _RowRefused(f"{quoted} is more than {largest:,}")
        return value

    def whole(texts: list[str], blank) -> list:
        if not all(map(usual, texts)):
            raise ValueError
        values = [Decimal(text.replace(",", "")) for text in texts]
        if max(values) > largest:
            raise ValueError
        return values

    return cell, whole


def _quantity_cell(column: str, text: str) -> int:
    if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= _MAX_QUANTITY:
        raise _RowRefused(f'{column} "{_shorten(text)}" is not a whole number of at least 1')
    return int(text)


def _quantity_column(texts: list[str], blank) -> list:
    if not all(map(_DIGITS.fullmatch, texts)):
        raise ValueError
    values = [int(text) for text in texts]
    if min(values) < 1 or max(values) > _MAX_QUANTITY:
        raise ValueError
    return values


_quantity = (_quantity_cell, _quantity_column)


def _flag_cell(column: str, text: str) -> bool:
    try:
        return _FLAGS[text.lower()]
    except KeyError:
        raise _RowRefused(f'{column} "{_shorten(text)}" is not true or false') from None


_flag = (_flag_cell, lambda texts, blank: [_FLAGS[t.lower()] if t else blank for t in texts])


def _email(max_length: int) -> tuple[CellParser, None]:
    def cell(column: str, text: str) -> str:
        if len(text) > max_length:
            raise _RowRefused(f"{column} is longer than {max_length} characters")
        try:
            validate_email(text)
        except ValidationError:
            raise _RowRefused(f"{column} is not an e-mail address") from None
        return text

    return cell, None


def _reference_cell(column: str, text: str) -> identities.CustomerReference:
    try:
        return identities.parse_customer_reference(text, column=column)
    except ValueError as error:
        raise _RowRefused(str(error)) from None


def _reference_column(texts: list[str], blank) -> list:
    # Plain customer ids only, kept as the texts (see _split_references); a column with
    # any identity reference goes cell by cell.
    if ":" in "\n".join(texts) or max(map(len, texts)) > identities.CUSTOMER_ID_MAX_LENGTH:
        raise ValueError
    return texts


def _distinct_references(keys, sources, external_ids) -> list[tuple[str, str, str]]:
    # strict=False: sources and external_ids may be endless repeat("").
    return list(dict.fromkeys(zip(keys, sources, external_ids, strict=False)))


def _split_references(references: list) -> tuple[Iterable, Iterable, Iterable]:
    """customer_key, source and external_id columns of a parsed reference column: either
    the plain ids of the fast path (texts) or CustomerReference tuples, never mixed."""
    if references and isinstance(references[0], str):
        return references, repeat(""), repeat("")
    return zip(*references, strict=True) if references else ((), (), ())


_reference = (_reference_cell, _reference_column)


def _own_customer_id(max_length: int) -> tuple[CellParser, ColumnParser]:
    def cell(column: str, text: str) -> str:
        if ":" in text:
            raise _RowRefused(
                f'{column} "{_shorten(text)}" contains ":", which only identity references'
                " (source:external_id) may"
            )
        if len(text) > max_length:
            raise _RowRefused(f"{column} is longer than {max_length} characters")
        return text

    def whole(texts: list[str], blank) -> list:
        if ":" in "\n".join(texts) or max(map(len, texts)) > max_length:
            raise ValueError
        return texts

    return cell, whole


def _tags(max_length: int) -> tuple[CellParser, None]:
    def cell(column: str, text: str) -> tuple[str, ...]:
        names = dict.fromkeys(name.strip() for name in text.split(";"))
        names.pop("", None)
        for name in names:
            if len(name) > max_length:
                raise _RowRefused(f'tag "{_shorten(name)}" is longer than {max_length} characters')
        return tuple(names)

    return cell, None


def _identities_cell(column: str, text: str) -> tuple[tuple[str, str], ...]:
    links = []
    for part in text.split(";"):
        if part.strip():
            try:
                links.append(identities.parse_identity(part.strip()))
            except ValueError as error:
                raise _RowRefused(str(error)) from None
    return tuple(dict.fromkeys(links))


# --------------------------------------------------------------------------------------
# Layouts: the columns of each kind, in SPEC order
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    name: str
    parsers: tuple[CellParser, ColumnParser | None]
    required: bool = False
    # The value of a blank cell, and of an absent column when a row is created.
    blank: object = ""

    def parse_all(self, texts: list[str]) -> tuple[list, dict[int, str]]:
        """Values of a column's (stripped) cells and the reasons of the bad ones by index."""
        cell, whole = self.parsers
        if whole is not None and texts and not (self.required and "" in texts):
            try:
                return whole(texts, self.blank), {}
            except (ValueError, KeyError):
                pass  # something is unusual: find and name it cell by cell
        values, failures = [], {}
        for index, text in enumerate(texts):
            if not text:
                if self.required:
                    failures[index] = f"{self.name} missing"
                values.append(self.blank)
                continue
            try:
                values.append(cell(self.name, text))
            except _RowRefused as refusal:
                failures[index] = refusal.reason
                values.append(None)
        return values, failures


def _length(model: type[models.Model], name: str) -> int:
    return model._meta.get_field(name).max_length


@dataclass(frozen=True)
class _Layout:
    kind: str
    columns: tuple[_Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


CUSTOMER_PROFILE_COLUMNS = (
    "name",
    "phone",
    "email",
    "gender",
    "birth_date",
    "city",
    "region",
    "occupation",
    "is_member",
    "member_tier",
    "registered_at",
)
ORDER_VALUE_COLUMNS = ("placed_at", "amount", "channel", "store", "city", "status")
ITEM_COLUMNS = ("sku", "category", "quantity", "unit_price")
EVENT_COLUMNS = ("kind", "occurred_at", "channel", "sku", "category")

LAYOUTS: dict[str, _Layout] = {
    ImportKind.CUSTOMERS: _Layout(
        kind=ImportKind.CUSTOMERS,
        columns=(
            _Column("customer_id", _own_customer_id(_length(Customer, "customer_id")), True),
            _Column("name", _text(_length(Customer, "name"))),
            _Column("phone", _text(_length(Customer, "phone"))),
            _Column("email", _email(_length(Customer, "email"))),
            _Column("gender", _choice(Gender)),
            _Column("birth_date", _date, blank=None),
            _Column("city", _text(_length(Customer, "city"))),
            _Column("region", _text(_length(Customer, "region"))),
            _Column("occupation", _text(_length(Customer, "occupation"))),
            _Column("is_member", _flag, blank=False),
            _Column("member_tier", _text(_length(Customer, "member_tier"))),
            _Column("registered_at", _moment, blank=None),
            _Column("tags", _tags(_length(Tag, "name")), blank=()),
            # Beyond the SPEC columns: identity links, `source:external_id;...`.
            _Column("identities", (_identities_cell, None), blank=()),
        ),
    ),
    ImportKind.ORDERS: _Layout(
        kind=ImportKind.ORDERS,
        columns=(
            _Column("order_id", _text(_length(Order, "order_id")), True),
            _Column("customer_id", _reference, True),
            _Column("placed_at", _moment, True),
            _Column("amount", _amount(Order, "amount"), True),
            _Column("channel", _text(_length(Order, "channel"))),
            _Column("store", _text(_length(Order, "store"))),
            _Column("city", _text(_length(Order, "city"))),
            _Column("status", _choice(OrderStatus), blank=OrderStatus.PAID.value),
        ),
    ),
    ImportKind.ORDER_ITEMS: _Layout(
        kind=ImportKind.ORDER_ITEMS,
        columns=(
            _Column("order_id", _text(_length(Order, "order_id")), True),
            _Column("sku", _text(_length(OrderItem, "sku")), True),
            _Column("category", _text(_length(OrderItem, "category"))),
            _Column("quantity", _quantity, True),
            _Column("unit_price", _amount(OrderItem, "unit_price"), True),
        ),
    ),
    ImportKind.EVENTS: _Layout(
        kind=ImportKind.EVENTS,
        columns=(
            _Column("customer_id", _reference, True),
            _Column("kind", _choice(EventKind), True),
            _Column("occurred_at", _moment, True),
            _Column("channel", _text(_length(BehaviourEvent, "channel"))),
            _Column("sku", _text(_length(BehaviourEvent, "sku"))),
            _Column("category", _text(_length(BehaviourEvent, "category"))),
        ),
    ),
}


def _layout(kind: str) -> _Layout:
    try:
        return LAYOUTS[kind]
    except KeyError:
        raise ValueError(
            f'unknown import kind "{kind}"; expected one of {", ".join(LAYOUTS)}'
        ) from None


@dataclass
class _Rows:
    """A batch's good rows, column-wise: positions (lines or item indexes) and values."""

    positions: list[int]
    values: dict[str, list]

    def __len__(self) -> int:
        return len(self.positions)

    def select(self, indexes: Sequence[int]) -> "_Rows":
        return _Rows(
            positions=[self.positions[i] for i in indexes],
            values={name: [column[i] for i in indexes] for name, column in self.values.items()},
        )


# A parsed batch: its good rows and the refusals of the others.
_Parsed = tuple[_Rows, list[RowError]]


@dataclass(frozen=True)
class _Plan:
    """A layout read through a header: where each column is (None: absent)."""

    layout: _Layout
    positions: tuple[tuple[_Column, int | None], ...]
    present: frozenset[str]
    width: int

    def parse(self, rows: Sequence[tuple[int, Sequence[str]]]) -> _Parsed:
        """Parse a batch of (position, cells); a row is refused for its first bad column."""
        errors: list[RowError] = []
        if any(len(cells) != self.width for _, cells in rows):
            errors = [
                RowError(position, f"{len(cells)} cells where the header has {self.width} columns")
                for position, cells in rows
                if len(cells) != self.width
            ]
            rows = [row for row in rows if len(row[1]) == self.width]
        count = len(rows)
        columns = list(zip(*(cells for _, cells in rows), strict=True)) if rows else []
        values: dict[str, list] = {}
        failures: dict[int, str] = {}
        for column, position in self.positions:
            if position is None:
                values[column.name] = [column.blank] * count
                continue
            texts = [text.strip() for text in columns[position]] if rows else []
            values[column.name], column_failures = column.parse_all(texts)
            for index, reason in column_failures.items():
                failures.setdefault(index, reason)
        parsed = _Rows(positions=[position for position, _ in rows], values=values)
        if failures:
            errors += [RowError(rows[index][0], reason) for index, reason in failures.items()]
            parsed = parsed.select([i for i in range(count) if i not in failures])
        return parsed, errors


def _read_header(reader) -> list[str]:
    try:
        return next(reader)
    except StopIteration:
        raise ImportRefused(
            ImportRefusalReason.BAD_HEADER,
            "The file is empty; its first line must be the header row.",
        ) from None
    except csv.Error as error:
        raise ImportRefused(
            ImportRefusalReason.UNREADABLE_FILE, f"Line 1 is not CSV: {error}."
        ) from None


def _plan_from_header(layout: _Layout, header: Sequence[str]) -> _Plan:
    """Check the header against the layout; raises ImportRefused naming the problem."""
    names = [name.strip() for name in header]
    expected = ", ".join(layout.names)
    for number, name in enumerate(names, start=1):
        if not name:
            raise ImportRefused(
                ImportRefusalReason.BAD_HEADER,
                f"Column {number} of the header has no name. The {layout.kind} columns are: "
                f"{expected}.",
            )
        if name not in layout.names:
            raise ImportRefused(
                ImportRefusalReason.BAD_HEADER,
                f'Unknown column "{_shorten(name)}" in the header. The {layout.kind} columns '
                f"are: {expected}.",
            )
        if names.count(name) > 1:
            raise ImportRefused(
                ImportRefusalReason.BAD_HEADER, f'Column "{name}" appears twice in the header.'
            )
    missing = [c.name for c in layout.columns if c.required and c.name not in names]
    if missing:
        listed = ", ".join(f'"{name}"' for name in missing)
        plural = "s" if len(missing) > 1 else ""
        raise ImportRefused(
            ImportRefusalReason.BAD_HEADER, f"Missing required column{plural} {listed}."
        )
    positions = tuple(
        (column, names.index(column.name) if column.name in names else None)
        for column in layout.columns
    )
    return _Plan(layout=layout, positions=positions, present=frozenset(names), width=len(names))


def _estimate_rows(path: Path) -> int:
    """Rows in the file (lines after the header), checking it is readable UTF-8 text.

    Reads the file once in binary chunks before anything is stored, so a file that is not
    text (an Excel workbook, UTF-16) is refused whole rather than failing half-way. Quoted
    cells spanning lines make this an upper bound, which is all a progress bar needs.
    """
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    lines, offset, last = 0, 0, b""
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                if b"\x00" in chunk:
                    raise ImportRefused(
                        ImportRefusalReason.UNREADABLE_FILE,
                        "The file contains NUL bytes, so it is not CSV text (a spreadsheet? "
                        "Save it as CSV UTF-8).",
                    )
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as error:
                    raise ImportRefused(
                        ImportRefusalReason.UNREADABLE_FILE,
                        f"The file is not UTF-8 text (byte {offset + error.start + 1:,}); "
                        "save it as CSV UTF-8.",
                    ) from None
                lines += chunk.count(b"\n")
                offset += len(chunk)
                last = chunk[-1:]
            decoder.decode(b"", final=True)
    except OSError as error:
        raise ImportRefused(
            ImportRefusalReason.UNREADABLE_FILE,
            f"The file cannot be read: {error.strerror or error}.",
        ) from None
    except UnicodeDecodeError:
        raise ImportRefused(
            ImportRefusalReason.UNREADABLE_FILE,
            "The file ends in the middle of a UTF-8 character; save it as CSV UTF-8.",
        ) from None
    if last and last != b"\n":
        lines += 1
    return max(lines - 1, 0)


def _read_batches(reader, batch_size: int) -> Iterator[list[tuple[int, list[str]]]]:
    """Rows as (line number where the row starts, cells), blank lines skipped."""
    batch: list[tuple[int, list[str]]] = []
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise ImportRefused(
                ImportRefusalReason.UNREADABLE_FILE,
                f"Line {line} is not CSV: {error}. The rows before it were imported.",
            ) from None
        if not cells:
            continue
        batch.append((line, cells))
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _cells_from_item(layout: _Layout, item) -> tuple[tuple[str, ...], list[str]]:
    """An API item as a header (its keys, in layout order) and CSV-like cells."""
    if not isinstance(item, dict):
        raise _RowRefused("item is not a JSON object")
    for key in item:
        if key not in layout.names:
            raise _RowRefused(f'unknown field "{_shorten(str(key))}"')
    names = tuple(name for name in layout.names if name in item)
    return names, [_cell_text(name, item[name]) for name in names]


def _cell_text(name: str, value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list) and name in ("tags", "identities"):
        parts = []
        for element in value:
            if isinstance(element, dict) and name == "identities":
                element = f"{element.get('source', '')}:{element.get('external_id', '')}"
            if not isinstance(element, str) or ";" in element:
                raise _RowRefused(f"{name} must be a list of texts without ';'")
            parts.append(element)
        return ";".join(parts)
    raise _RowRefused(f"{name} must be text, a number or true/false")


def _line_place(position: int) -> str:
    return f"on line {position}"


def _item_place(position: int) -> str:
    return f"in item {position}"


# --------------------------------------------------------------------------------------
# Storing a batch
# --------------------------------------------------------------------------------------


@dataclass
class _BatchOutcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    placeholders_created: int = 0
    errors: list[RowError] = field(default_factory=list)
    touched_customer_ids: set[int] = field(default_factory=set)

    @property
    def stored(self) -> int:
        return self.created + self.updated + self.unchanged


@dataclass(frozen=True)
class _Changes:
    """What an upsert wrote: the pks it created, the pks it created or updated, and the
    customers those rows belong to (for a moved order also the customer it left)."""

    created: set[int]
    written: set[int]
    customers: set[int]


_DIALECTS = {
    "postgresql": {
        "distinct": "IS DISTINCT FROM",
        # A row version this statement inserted has no deleting or locking transaction;
        # ON CONFLICT DO UPDATE leaves its own transaction id in xmax.
        "created": "({table}.xmax = 0)",
        # Subqueries in RETURNING read the statement's snapshot: the row before the update.
        "previous_owner": (
            "CASE WHEN crm_order.xmax = 0 THEN NULL ELSE (SELECT previous.customer_id "
            "FROM crm_order previous WHERE previous.id = crm_order.id) END"
        ),
    },
    "sqlite": {"distinct": "IS NOT", "created": "NULL", "previous_owner": "NULL"},
}


def _dialect() -> dict[str, str]:
    return _DIALECTS[connection.vendor]


def _read_ahead(
    batches: Iterator[list[tuple[int, list[str]]]],
    prepare: Callable[[list[tuple[int, list[str]]]], "_Prepared"],
) -> Iterator[tuple[list[tuple[int, list[str]]], "_Prepared"]]:
    """Yield (rows, prepare(rows)) for each batch, reading and preparing the next batch in
    a worker thread while the caller stores this one.

    Reading, parsing and writing the staging CSV are pure Python and the upserts wait on
    the database (psycopg releases the GIL while it waits), so the two overlap on a second
    core: 200,000 orders took 12.4 s instead of 15.0 s (medians of 3 on the shared 2-core
    machine). The worker never touches the database, and only one batch is read ahead,
    so memory holds at most two batches.
    """

    def read_next():
        rows = next(batches, None)
        return None if rows is None else (rows, prepare(rows))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-reader") as reader:
        ahead = reader.submit(read_next)
        while (current := ahead.result()) is not None:
            ahead = reader.submit(read_next)
            yield current


@dataclass(frozen=True)
class _Staging:
    """The rows of one TEMP staging table, made ready without the database: CSV text for
    PostgreSQL's COPY, or the rows themselves for SQLite (adapted when loaded)."""

    columns: tuple[tuple[str, models.Field | None], ...]
    payload: str | list


@dataclass
class _Prepared:
    """A batch ready for the database: its good rows (repeated keys dropped), the
    refusals so far, and the content of its staging tables."""

    rows: _Rows
    errors: list[RowError]
    staging: dict[str, _Staging] = field(default_factory=dict)
    # The distinct customer references (customer_key, source, external_id) of orders and
    # events, resolved before the kind's own upsert.
    references: list[tuple[str, str, str]] = field(default_factory=list)


def _prepare_batch(
    plan: _Plan, rows: Sequence[tuple[int, list[str]]], *, place, vendor: str
) -> _Prepared:
    """Parse a batch of (position, cells) and build its staging tables; pure Python."""
    good, errors = plan.parse(rows)
    prepared = _Prepared(rows=good, errors=errors)
    if len(good):
        _PREPARES[plan.layout.kind](prepared, plan=plan, place=place, vendor=vendor)
    return prepared


def _store_batch(
    plan: _Plan,
    rows: Sequence[tuple[int, list[str]]],
    prepared: _Prepared,
    *,
    now: datetime,
    known_customers: set[str],
    job: Job | None = None,
) -> _BatchOutcome:
    """Store the good rows of a prepared batch in one transaction, together with the job's
    progress (one commit per batch; Django's foreign keys are checked then, deferred).

    `known_customers` holds plain customer ids that earlier batches of the same import
    made sure exist; this batch adds its own once it is stored.
    """
    outcome = _BatchOutcome(errors=list(prepared.errors))
    with transaction.atomic():
        if len(prepared.rows):
            with connection.cursor() as cursor:
                _create_referenced_customers(
                    cursor, prepared, now=now, known=known_customers, outcome=outcome
                )
                _STORES[plan.layout.kind](cursor, prepared, plan=plan, now=now, outcome=outcome)
        outcome.errors.sort(key=lambda error: error.position)
        if job is not None:
            record_job_progress(
                job=job,
                done=len(rows),
                succeeded=outcome.stored,
                failed=len(outcome.errors),
                errors=[{"line": e.position, "reason": e.reason} for e in outcome.errors],
            )
    if len(known_customers) < KNOWN_CUSTOMERS_LIMIT:
        known_customers.update(key for key, source, _ in prepared.references if not source)
    return outcome


def _create_referenced_customers(
    cursor, prepared: _Prepared, *, now: datetime, known: set[str], outcome: _BatchOutcome
) -> None:
    """Create (as placeholders) the customers the batch references that do not exist yet.

    Plain ids an earlier batch of this import already made sure of are not looked up again:
    with 1M orders over 250k customers most ids recur in later batches, and checking every
    batch's ids against the table made this step take 8.0-9.5 s instead of 5.6-7.1 s (two
    runs each). Only plain ids are remembered: merges delete only placeholders that own an
    identity, which a plain-id placeholder never does, whereas an identity itself can go
    (a personal-data erasure deletes the customer's identities).
    """
    references = [ref for ref in prepared.references if ref[1] or ref[0] not in known]
    if not references:
        return
    _stage(
        cursor,
        "import_stage_references",
        _staging(_REFERENCE_COLUMNS, references, vendor=connection.vendor),
    )
    outcome.placeholders_created += len(
        identities.create_referenced_customers(
            cursor=cursor, staging_table="import_stage_references", now=now
        )
    )
    cursor.execute("DROP TABLE import_stage_references")


def _keep_last(
    rows: _Rows,
    keys: list,
    describe: Callable[[object], str],
    place: Callable[[int], str],
    errors: list[RowError],
) -> _Rows:
    """Drop rows whose key a later row of the batch repeats (the last row wins)."""
    last = dict(zip(keys, range(len(keys)), strict=True))
    if len(last) == len(keys):
        return rows
    for index, key in enumerate(keys):
        winner = last[key]
        if winner != index:
            errors.append(
                RowError(
                    rows.positions[index],
                    f"{describe(key)} is repeated {place(rows.positions[winner])}; "
                    "the last row wins",
                )
            )
    return rows.select(sorted(last.values()))


def _staging(
    columns: Iterable[tuple[str, models.Field | None]], rows: Iterable, *, vendor: str
) -> _Staging:
    """A staging table's content: columns typed like the target fields (None: integer).

    PostgreSQL gets CSV written by the C csv module (psycopg's write_row took 3 µs a row,
    the csv writer ~2). QUOTE_NONNUMERIC quotes every text, so an empty text stays '' and
    only the nullable columns (FORCE_NULL in _stage) read an empty quoted value as NULL.
    """
    if vendor != "postgresql":
        return _Staging(tuple(columns), list(rows))
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n").writerows(rows)
    return _Staging(tuple(columns), buffer.getvalue())


def _stage(cursor, table: str, staging: _Staging) -> None:
    """Create TEMP `table` and fill it: one COPY on PostgreSQL, executemany on SQLite."""
    cursor.execute(f"DROP TABLE IF EXISTS {table}")
    definitions = ", ".join(
        f"{name} {model_field.db_type(connection) if model_field else 'integer'}"
        for name, model_field in staging.columns
    )
    cursor.execute(f"CREATE TEMP TABLE {table} ({definitions})")
    names = ", ".join(name for name, _ in staging.columns)
    if isinstance(staging.payload, str):
        nullable = [name for name, field_ in staging.columns if field_ and field_.null]
        force_null = f", FORCE_NULL ({', '.join(nullable)})" if nullable else ""
        with cursor.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT csv{force_null})") as copy:
            copy.write(staging.payload)
        return
    fields = [model_field for _, model_field in staging.columns]
    adapted = [
        [
            model_field.get_db_prep_save(value, connection) if model_field else value
            for model_field, value in zip(fields, row, strict=True)
        ]
        for row in staging.payload
    ]
    marks = ", ".join(["%s"] * len(fields))
    cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", adapted)


def _upsert(cursor, *, sql: str, existing_sql: str, params: dict) -> _Changes:
    """Run an upsert whose RETURNING gives (pk, owner, created, previous owner) rows.

    Plain tuples and set comprehensions: an object per returned row took ~1.1 s per
    million rows, the comprehensions ~0.15 s.
    """
    if connection.vendor == "postgresql":
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    else:
        cursor.execute(existing_sql, params)
        existing = dict(cursor.fetchall())
        cursor.execute(sql, params)
        rows = [
            (pk, owner, pk not in existing, existing.get(pk))
            for pk, owner, _created, _previous in cursor.fetchall()
        ]
    return _Changes(
        created={row[0] for row in rows if row[2]},
        written={row[0] for row in rows},
        customers={row[1] for row in rows} | {row[3] for row in rows if row[3] is not None},
    )


def _count_changes(outcome: _BatchOutcome, changes: _Changes, staged: int) -> None:
    outcome.created += len(changes.created)
    outcome.updated += len(changes.written) - len(changes.created)
    outcome.unchanged += staged - len(changes.written)
    outcome.touched_customer_ids |= changes.customers


def _differs(table: str, new_values: Mapping[str, str]) -> str:
    """`(table.a, table.b) IS DISTINCT FROM (new a, new b)` for an ON CONFLICT WHERE."""
    olds = ", ".join(f"{table}.{name}" for name in new_values)
    return f"({olds}) {_dialect()['distinct']} ({', '.join(new_values.values())})"


def _excluded(names: Iterable[str]) -> dict[str, str]:
    return {name: f"EXCLUDED.{name}" for name in names}


def _field(model: type[models.Model], name: str) -> models.Field:
    return model._meta.get_field(name)


def _now(now: datetime):
    return connection.ops.adapt_datetimefield_value(now)


_REFERENCE_COLUMNS = (
    ("customer_key", _field(Customer, "customer_id")),
    ("source", _field(Identity, "source")),
    ("external_id", _field(Identity, "external_id")),
)


def _prepare_orders(prepared: _Prepared, *, plan: _Plan, place, vendor: str) -> None:
    rows = prepared.rows = _keep_last(
        prepared.rows,
        prepared.rows.values["order_id"],
        lambda key: f'order_id "{key}"',
        place,
        prepared.errors,
    )
    keys, sources, external_ids = _split_references(rows.values["customer_id"])
    prepared.references = _distinct_references(keys, sources, external_ids)
    prepared.staging["import_stage_orders"] = _staging(
        [
            ("order_id", _field(Order, "order_id")),
            *_REFERENCE_COLUMNS,
            *((name, _field(Order, name)) for name in ORDER_VALUE_COLUMNS),
        ],
        zip(
            rows.values["order_id"],
            keys,
            sources,
            external_ids,
            *(rows.values[name] for name in ORDER_VALUE_COLUMNS),
            strict=False,  # sources and external_ids may be endless repeat("")
        ),
        vendor=vendor,
    )


def _store_orders(cursor, prepared: _Prepared, *, plan: _Plan, now, outcome) -> None:
    _stage(cursor, "import_stage_orders", prepared.staging["import_stage_orders"])
    # Optional columns absent from the header keep their stored values.
    written = ["customer_id", "placed_at", "amount"] + [
        name for name in ("channel", "store", "city", "status") if name in plan.present
    ]
    dialect = _dialect()
    changes = _upsert(
        cursor,
        sql=f"""
        INSERT INTO crm_order (order_id, customer_id, {", ".join(ORDER_VALUE_COLUMNS)},
                               coupon_code, created_at, updated_at)
        SELECT s.order_id, {identities.REFERENCED_CUSTOMER_PK},
               {", ".join(f"s.{name}" for name in ORDER_VALUE_COLUMNS)}, '', %(now)s, %(now)s
        FROM import_stage_orders s {identities.REFERENCE_JOINS}
        WHERE TRUE
        ON CONFLICT (order_id) DO UPDATE
            SET {", ".join(f"{name} = EXCLUDED.{name}" for name in written)},
                updated_at = EXCLUDED.updated_at
            WHERE {_differs("crm_order", _excluded(written))}
        RETURNING crm_order.id, crm_order.customer_id,
                  {dialect["created"].format(table="crm_order")}, {dialect["previous_owner"]}
        """,
        existing_sql="""
        SELECT o.id, o.customer_id
        FROM import_stage_orders s JOIN crm_order o ON o.order_id = s.order_id
        """,
        params={"now": _now(now)},
    )
    _count_changes(outcome, changes, len(prepared.rows))
    cursor.execute("DROP TABLE import_stage_orders")


def _prepare_order_items(prepared: _Prepared, *, plan: _Plan, place, vendor: str) -> None:
    keys = list(zip(prepared.rows.values["order_id"], prepared.rows.values["sku"], strict=True))
    rows = prepared.rows = _keep_last(
        prepared.rows,
        keys,
        lambda key: f'order_id "{key[0]}" with sku "{key[1]}"',
        place,
        prepared.errors,
    )
    prepared.staging["import_stage_order_items"] = _staging(
        [
            ("line", None),
            ("order_id", _field(Order, "order_id")),
            *((name, _field(OrderItem, name)) for name in ITEM_COLUMNS),
        ],
        zip(
            rows.positions,
            rows.values["order_id"],
            *(rows.values[name] for name in ITEM_COLUMNS),
            strict=True,
        ),
        vendor=vendor,
    )


def _store_order_items(cursor, prepared: _Prepared, *, plan: _Plan, now, outcome) -> None:
    _stage(cursor, "import_stage_order_items", prepared.staging["import_stage_order_items"])
    cursor.execute(
        """
        SELECT s.line, s.order_id FROM import_stage_order_items s
        WHERE NOT EXISTS (SELECT 1 FROM crm_order o WHERE o.order_id = s.order_id)
        """
    )
    unknown = cursor.fetchall()
    outcome.errors.extend(
        RowError(line, f'order_id "{_shorten(order_id)}" is not a known order')
        for line, order_id in unknown
    )
    written = ["quantity", "unit_price"] + (["category"] if "category" in plan.present else [])
    dialect = _dialect()
    changes = _upsert(
        cursor,
        sql=f"""
        INSERT INTO crm_orderitem (order_id, {", ".join(ITEM_COLUMNS)}, created_at, updated_at)
        SELECT o.id, {", ".join(f"s.{name}" for name in ITEM_COLUMNS)}, %(now)s, %(now)s
        FROM import_stage_order_items s JOIN crm_order o ON o.order_id = s.order_id
        WHERE TRUE
        ON CONFLICT (order_id, sku) DO UPDATE
            SET {", ".join(f"{name} = EXCLUDED.{name}" for name in written)},
                updated_at = EXCLUDED.updated_at
            WHERE {_differs("crm_orderitem", _excluded(written))}
        RETURNING crm_orderitem.id,
                  (SELECT o.customer_id FROM crm_order o WHERE o.id = crm_orderitem.order_id),
                  {dialect["created"].format(table="crm_orderitem")}, NULL
        """,
        existing_sql="""
        SELECT i.id, o.customer_id
        FROM import_stage_order_items s
        JOIN crm_order o ON o.order_id = s.order_id
        JOIN crm_orderitem i ON i.order_id = o.id AND i.sku = s.sku
        """,
        params={"now": _now(now)},
    )
    _count_changes(outcome, changes, len(prepared.rows) - len(unknown))
    cursor.execute("DROP TABLE import_stage_order_items")


def _prepare_events(prepared: _Prepared, *, plan: _Plan, place, vendor: str) -> None:
    values = prepared.rows.values
    keys, sources, external_ids = _split_references(values["customer_id"])
    prepared.references = _distinct_references(keys, sources, external_ids)
    prepared.staging["import_stage_events"] = _staging(
        [
            *_REFERENCE_COLUMNS,
            *((name, _field(BehaviourEvent, name)) for name in EVENT_COLUMNS),
        ],
        zip(
            keys,
            sources,
            external_ids,
            *(values[name] for name in EVENT_COLUMNS),
            strict=False,  # sources and external_ids may be endless repeat("")
        ),
        vendor=vendor,
    )


def _store_events(cursor, prepared: _Prepared, *, plan: _Plan, now, outcome) -> None:
    _stage(cursor, "import_stage_events", prepared.staging["import_stage_events"])
    payload = _field(BehaviourEvent, "payload")
    cursor.execute(
        f"""
        INSERT INTO crm_behaviourevent (customer_id, {", ".join(EVENT_COLUMNS)}, payload,
                                        created_at, updated_at)
        SELECT {identities.REFERENCED_CUSTOMER_PK},
               {", ".join(f"s.{name}" for name in EVENT_COLUMNS)}, %(payload)s, %(now)s, %(now)s
        FROM import_stage_events s {identities.REFERENCE_JOINS}
        WHERE TRUE
        ON CONFLICT (customer_id, kind, occurred_at, channel, sku) DO NOTHING
        RETURNING customer_id
        """,
        {"now": _now(now), "payload": payload.get_db_prep_save(payload.get_default(), connection)},
    )
    created = [row[0] for row in cursor.fetchall()]
    outcome.created += len(created)
    outcome.unchanged += len(prepared.rows) - len(created)
    outcome.touched_customer_ids.update(created)
    cursor.execute("DROP TABLE import_stage_events")


_CUSTOMER_STAGES = (
    "import_stage_customers",
    "import_stage_customer_tags",
    "import_stage_customer_identities",
)


def _prepare_customers(prepared: _Prepared, *, plan: _Plan, place, vendor: str) -> None:
    rows = _keep_last(
        prepared.rows,
        prepared.rows.values["customer_id"],
        lambda key: f'customer_id "{key}"',
        place,
        prepared.errors,
    )
    rows = prepared.rows = _refuse_identities_claimed_twice(
        rows, place=place, errors=prepared.errors
    )
    customer_id_field = _field(Customer, "customer_id")
    values = rows.values
    prepared.staging["import_stage_customers"] = _staging(
        [
            ("customer_id", customer_id_field),
            *((name, _field(Customer, name)) for name in CUSTOMER_PROFILE_COLUMNS),
        ],
        zip(
            values["customer_id"],
            *(values[name] for name in CUSTOMER_PROFILE_COLUMNS),
            strict=True,
        ),
        vendor=vendor,
    )
    prepared.staging["import_stage_customer_tags"] = _staging(
        [("customer_id", customer_id_field), ("tag", _field(Tag, "name"))],
        (
            (customer_id, tag)
            for customer_id, tags in zip(values["customer_id"], values["tags"], strict=True)
            for tag in tags
        ),
        vendor=vendor,
    )
    prepared.staging["import_stage_customer_identities"] = _staging(
        [("line", None), ("customer_id", customer_id_field), *_REFERENCE_COLUMNS[1:]],
        (
            (position, customer_id, source, external_id)
            for position, customer_id, links in zip(
                rows.positions, values["customer_id"], values["identities"], strict=True
            )
            for source, external_id in links
        ),
        vendor=vendor,
    )


def _store_customers(cursor, prepared: _Prepared, *, plan: _Plan, now, outcome) -> None:
    for table in _CUSTOMER_STAGES:
        _stage(cursor, table, prepared.staging[table])
    staged = len(prepared.rows)
    if "identities" in plan.present:
        staged -= _refuse_identities_of_others(cursor, outcome=outcome)

    written = [name for name in CUSTOMER_PROFILE_COLUMNS if name in plan.present]
    new_values = {
        # An erased customer's personal fields stay blank whatever the file says.
        name: (
            f"CASE WHEN crm_customer.pii_erased_at IS NULL THEN EXCLUDED.{name} "
            f"ELSE crm_customer.{name} END"
            if name in ERASED_FIELDS
            else f"EXCLUDED.{name}"
        )
        for name in [*written, "is_placeholder"]
    }
    default_columns, params = identities.customer_insert_defaults(
        exclude={"customer_id", "is_placeholder", *CUSTOMER_PROFILE_COLUMNS}
    )
    params["now"] = _now(now)
    dialect = _dialect()
    changes = _upsert(
        cursor,
        sql=f"""
        INSERT INTO crm_customer (customer_id, {", ".join(CUSTOMER_PROFILE_COLUMNS)},
                                  is_placeholder, created_at, updated_at,
                                  {", ".join(default_columns)})
        SELECT s.customer_id, {", ".join(f"s.{name}" for name in CUSTOMER_PROFILE_COLUMNS)},
               FALSE, %(now)s, %(now)s,
               {", ".join(f"%(default_{column})s" for column in default_columns)}
        FROM import_stage_customers s
        WHERE TRUE
        ON CONFLICT (customer_id) DO UPDATE
            SET {", ".join(f"{name} = {value}" for name, value in new_values.items())},
                updated_at = EXCLUDED.updated_at
            WHERE {_differs("crm_customer", new_values)}
        RETURNING crm_customer.id, crm_customer.id,
                  {dialect["created"].format(table="crm_customer")}, NULL
        """,
        existing_sql="""
        SELECT c.id, c.id FROM import_stage_customers s
        JOIN crm_customer c ON c.customer_id = s.customer_id
        """,
        params=params,
    )
    created, changed = changes.created, set(changes.written)
    if "tags" in plan.present:
        changed |= _replace_tags(cursor, now=now)
    if "identities" in plan.present:
        changed |= identities.merge_linked_placeholders(
            cursor=cursor, identity_table="import_stage_customer_identities", now=now
        )
        changed |= identities.link_identities(
            cursor=cursor, identity_table="import_stage_customer_identities", now=now
        )
    outcome.created += len(created)
    outcome.updated += len(changed - created)
    outcome.unchanged += staged - len(changed)
    outcome.touched_customer_ids |= changed
    for table in _CUSTOMER_STAGES:
        cursor.execute(f"DROP TABLE {table}")


def _refuse_identities_claimed_twice(rows: _Rows, *, place, errors: list[RowError]) -> _Rows:
    """An identity two rows of the batch link to different customers stays with the first;
    the later row is refused."""
    claimed: dict[tuple[str, str], tuple[str, int]] = {}
    refused = []
    for index, (position, customer_id, links) in enumerate(
        zip(rows.positions, rows.values["customer_id"], rows.values["identities"], strict=True)
    ):
        for link in links:
            owner, owner_position = claimed.get(link, (customer_id, position))
            if owner != customer_id:
                errors.append(
                    RowError(
                        position,
                        f'identity {link[0]}:{link[1]} is already linked to customer "{owner}" '
                        f"{place(owner_position)}",
                    )
                )
                refused.append(index)
                break
        else:
            for link in links:
                claimed.setdefault(link, (customer_id, position))
    if not refused:
        return rows
    return rows.select([i for i in range(len(rows)) if i not in set(refused)])


def _refuse_identities_of_others(cursor, *, outcome: _BatchOutcome) -> int:
    """Refuse the staged rows that link an identity a different real customer owns;
    returns how many customers were refused (and removed from the staging tables)."""
    conflicts = identities.find_identity_conflicts(
        cursor=cursor,
        identity_table="import_stage_customer_identities",
        customer_table="import_stage_customers",
    )
    first_by_line = {}
    for conflict in conflicts:
        first_by_line.setdefault(conflict.line, conflict)
    for conflict in first_by_line.values():
        outcome.errors.append(
            RowError(
                conflict.line,
                f"identity {conflict.source}:{conflict.external_id} already belongs to "
                f'customer "{conflict.owner_customer_id}"',
            )
        )
    if not first_by_line:
        return 0
    refused = sorted({conflict.customer_id for conflict in first_by_line.values()})
    marks = ", ".join(["%s"] * len(refused))
    for table in _CUSTOMER_STAGES:
        cursor.execute(f"DELETE FROM {table} WHERE customer_id IN ({marks})", refused)
    return len(refused)


def _replace_tags(cursor, *, now: datetime) -> set[int]:
    """Make each staged customer's tags exactly the staged ones; returns customers changed."""
    cursor.execute(
        """
        INSERT INTO crm_tag (name, created_at, updated_at)
        SELECT DISTINCT s.tag, %(now)s, %(now)s FROM import_stage_customer_tags s
        WHERE TRUE
        ON CONFLICT (name) DO NOTHING
        """,
        {"now": _now(now)},
    )
    cursor.execute(
        """
        DELETE FROM crm_customer_tags
        WHERE customer_id IN (
            SELECT c.id FROM import_stage_customers s
            JOIN crm_customer c ON c.customer_id = s.customer_id
        )
        AND NOT EXISTS (
            SELECT 1 FROM import_stage_customer_tags s
            JOIN crm_customer c ON c.customer_id = s.customer_id
            JOIN crm_tag t ON t.name = s.tag
            WHERE c.id = crm_customer_tags.customer_id AND t.id = crm_customer_tags.tag_id
        )
        RETURNING customer_id
        """
    )
    changed = {row[0] for row in cursor.fetchall()}
    cursor.execute(
        """
        INSERT INTO crm_customer_tags (customer_id, tag_id)
        SELECT c.id, t.id
        FROM import_stage_customer_tags s
        JOIN crm_customer c ON c.customer_id = s.customer_id
        JOIN crm_tag t ON t.name = s.tag
        WHERE TRUE
        ON CONFLICT (customer_id, tag_id) DO NOTHING
        RETURNING customer_id
        """
    )
    return changed | {row[0] for row in cursor.fetchall()}


_PREPARES = {
    ImportKind.CUSTOMERS: _prepare_customers,
    ImportKind.ORDERS: _prepare_orders,
    ImportKind.ORDER_ITEMS: _prepare_order_items,
    ImportKind.EVENTS: _prepare_events,
}
_STORES = {
    ImportKind.CUSTOMERS: _store_customers,
    ImportKind.ORDERS: _store_orders,
    ImportKind.ORDER_ITEMS: _store_order_items,
    ImportKind.EVENTS: _store_events,
}


def _recompute_metrics(result: ImportResult, *, now: datetime) -> int:
    """Recompute the derived metrics of exactly the customers the import wrote."""
    if not result.touched_customer_ids:
        return 0
    return recompute_customer_metrics(
        as_of=now, customer_ids=result.touched_customer_ids
    ).customers_in_scope
