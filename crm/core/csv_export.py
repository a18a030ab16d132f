"""Streaming CSV responses, safe against formula injection (SPEC §9)."""

import csv
from collections.abc import Iterable, Sequence

from django.http import StreamingHttpResponse

# A spreadsheet runs a cell starting with one of these as a formula: OWASP's list ("CSV
# Injection": = + - @, tab, carriage return), line feed, and the full-width forms, which
# spreadsheets in CJK locales read as their ASCII twins.
FORMULA_PREFIXES = (
    *("=", "+", "-", "@", "\t", "\r", "\n"),
    "\N{FULLWIDTH EQUALS SIGN}",
    "\N{FULLWIDTH PLUS SIGN}",
    "\N{FULLWIDTH HYPHEN-MINUS}",
    "\N{FULLWIDTH COMMERCIAL AT}",
)


def neutralise_cell(value) -> str:
    """Render a value for CSV; text that a spreadsheet would run gets a leading quote."""
    if value is None:
        return ""
    text = str(value)
    if text.startswith(FORMULA_PREFIXES) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    # Negative amounts ("-12.50") are data, not formulas.
    try:
        float(text)
    except ValueError:
        return False
    return True


class _Echo:
    def write(self, value: str) -> str:
        return value


def stream_csv(
    *, filename: str, header: Sequence[str], rows: Iterable[Sequence]
) -> StreamingHttpResponse:
    """A streamed CSV download: rows are written as they are read, never all in memory."""
    writer = csv.writer(_Echo())

    def lines():
        # The header too: the refused rows' download echoes the uploaded one.
        yield writer.writerow([neutralise_cell(name) for name in header])
        for row in rows:
            yield writer.writerow([neutralise_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
