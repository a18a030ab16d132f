"""The refused rows' report of an import job: kept while the import runs, read by the
"download the refused rows" link, and blanked by a personal-data erasure.

The uploaded file is deleted as soon as its import ends (uploads), so the report does not
read it: the import keeps, in the database, the file's header (as line 1) and each refused
row as it was read (RefusedImportRow), the first MAX_REPORTED_ERRORS of them, the same rows
as the job's `errors`. The rows are what the marketer fixes and uploads again, so they keep
the cells as uploaded, personal data included; phone and e-mail are masked in the download
for users without the permission (SPEC §9), and an erasure blanks the person's data in
every report (erase_person_from_reports).
"""

import functools
import operator
import re
from collections.abc import Collection, Iterator, Sequence

from django.db.models import Q, TextField
from django.db.models.functions import Cast

from crm.core.models import Job
from crm.models import Customer, RefusedImportRow
from crm.services.imports.layouts import Plan
from crm.services.imports.results import RowError

HEADER_LINE = 1
# Personal data never exported without the permission (SPEC §9).
PII = frozenset({"phone", "email"})
# What an erasure leaves in a reason where the person's identity was quoted.
ERASED = "[erased]"
# PostgreSQL text cannot hold NUL; a refused row may (its reason says so).
_NUL_SHOWN_AS = "\N{REPLACEMENT CHARACTER}"


def keep_header(*, job: Job, header: Sequence[str]) -> None:
    """Keep the file's header (as uploaded) for the job's report."""
    RefusedImportRow.objects.update_or_create(
        job=job, line=HEADER_LINE, defaults={"reason": "", "cells": _storable(header)}
    )


def keep_refused_rows(
    *,
    job: Job,
    plan: Plan,
    rows: Sequence[tuple[int, list[str]]],
    errors: Sequence[RowError],
    personal_columns: Collection[str],
) -> None:
    """Keep the raw cells of the refused `rows` named by `errors` (one per row).

    A refused row of a customer whose personal data was erased keeps none of it: the same
    rule as the import itself (crm.services.imports.customers).
    """
    if not errors:
        return
    cells_at = dict(rows)
    where = {column.name: index for column, index in plan.positions if index is not None}
    personal = [where[name] for name in personal_columns if name in where]
    erased: set[str] = set()
    if personal and "customer_id" in where:
        ids = {_cell(cells_at[error.position], where["customer_id"]) for error in errors}
        ids = {key for key in ids if "\x00" not in key}  # no customer id holds one
        erased = set(
            Customer.objects.filter(customer_id__in=ids, pii_erased_at__isnull=False).values_list(
                "customer_id", flat=True
            )
        )
    kept = []
    for error in errors:
        cells = list(cells_at[error.position])
        if erased and _cell(cells, where["customer_id"]) in erased:
            for index in personal:
                if index < len(cells):
                    cells[index] = ""
        kept.append(
            RefusedImportRow(
                job=job, line=error.position, reason=error.reason, cells=_storable(cells)
            )
        )
    RefusedImportRow.objects.bulk_create(kept, ignore_conflicts=True)


def forget_refused_rows(*, job: Job) -> None:
    """Drop what an interrupted run of the job kept; the run starts over."""
    RefusedImportRow.objects.filter(job=job).delete()


def refused_rows(*, job: Job, show_pii: bool) -> tuple[list[str], Iterator[list[str]]]:
    """Header and rows of the refused rows' download: line, reason, then the row's cells
    as uploaded, so the marketer can fix and upload them again.

    Phone and e-mail cells are blanked unless `show_pii`. Imports that kept no rows (made
    before reports were kept) give line and reason only.
    """
    kept = RefusedImportRow.objects.filter(job=job).order_by("line")
    header = kept.filter(line=HEADER_LINE).values_list("cells", flat=True).first()
    if header is None:
        lines = sorted((error["line"], error["reason"]) for error in job.errors)
        return ["line", "reason"], ([str(line), reason] for line, reason in lines)
    hidden = set() if show_pii else {i for i, name in enumerate(header) if name.strip() in PII}

    def rows() -> Iterator[list[str]]:
        for line, reason, cells in kept.filter(line__gt=HEADER_LINE).values_list(
            "line", "reason", "cells"
        ):
            yield [str(line), reason, *("" if i in hidden else c for i, c in enumerate(cells))]

    return ["line", "reason", *header], rows()


def erase_person_from_reports(
    *,
    customer_id: str,
    phone: str,
    email: str,
    identities: Collection[str],
    personal_columns: Collection[str],
) -> int:
    """Blank a person's data in every refused rows' report; returns the rows changed.

    A refused row is the person's when its customer_id, phone or email column holds theirs:
    its `personal_columns` are blanked. In any row, a cell holding their phone, e-mail or
    one of their identities (`source:external_id`) is blanked, an identity inside an
    `identities` list is dropped, and a reason quoting an identity says ERASED instead; the
    job's `errors` get the same reasons.
    """
    found = [value for value in (customer_id, phone, email, *identities) if value]
    quoted = [value for value in (phone, email, *identities) if value]
    if not found:
        return 0
    matches = Q(cells__overlap=found)
    if quoted:
        matches |= functools.reduce(operator.or_, (Q(reason__contains=v) for v in quoted))
    rows = list(
        RefusedImportRow.objects.filter(matches)
        .exclude(line=HEADER_LINE)
        .select_for_update()
        .order_by("pk")
    )
    headers = dict(
        RefusedImportRow.objects.filter(
            job_id__in={row.job_id for row in rows}, line=HEADER_LINE
        ).values_list("job_id", "cells")
    )
    own = {"customer_id": customer_id, "phone": phone, "email": email}
    changed = []
    for row in rows:
        names = [name.strip() for name in headers.get(row.job_id, [])]
        theirs = any(
            value and name in names and _cell(row.cells, names.index(name)) == value
            for name, value in own.items()
        )
        cells = [
            ""
            if theirs and index < len(names) and names[index] in personal_columns
            else _without(cell, quoted)
            for index, cell in enumerate(row.cells)
        ]
        reason = _reason_without(row.reason, quoted)
        if (cells, reason) != (row.cells, row.reason):
            row.cells, row.reason = cells, reason
            changed.append(row)
    RefusedImportRow.objects.bulk_update(changed, ["cells", "reason"])
    _erase_from_job_errors(quoted)
    return len(changed)


def _erase_from_job_errors(quoted: list[str]) -> None:
    if not quoted:
        return
    as_text = Cast("errors", TextField())
    jobs = (
        Job.objects.annotate(errors_text=as_text)
        .filter(functools.reduce(operator.or_, (Q(errors_text__contains=v) for v in quoted)))
        .select_for_update()
    )
    for job in jobs:
        job.errors = [
            {**error, "reason": _reason_without(error.get("reason", ""), quoted)}
            for error in job.errors
        ]
        job.save(update_fields=["errors"])


def _cell(cells: Sequence[str], index: int) -> str:
    return cells[index].strip() if index < len(cells) else ""


def _without(cell: str, values: Collection[str]) -> str:
    """`cell` without the person's values: blank when it is one, and the `;`-separated
    parts that are one dropped (an identities list)."""
    if cell.strip() in values:
        return ""
    if ";" not in cell:
        return cell
    parts = cell.split(";")
    kept = [part for part in parts if part.strip() not in values]
    return cell if len(kept) == len(parts) else ";".join(kept)


def _reason_without(reason: str, values: Collection[str]) -> str:
    # Whole values only: erasing app:U1 leaves app:U10 alone.
    for value in values:
        reason = re.sub(rf"(?<![\w.@:-]){re.escape(value)}(?![\w@-])", ERASED, reason)
    return reason


def _storable(cells: Sequence[str]) -> list[str]:
    return [cell.replace("\x00", _NUL_SHOWN_AS) for cell in cells]
