"""Keeping personal data out of logs (SPEC §9): a logging filter that redacts it from every
record a handler writes, message and traceback alike.

What it removes:
- the payload of PostgreSQL error details, which quote the row or key a statement failed
  on: `DETAIL:  Failing row contains (…)`, `DETAIL:  Key (email)=(…) already exists.`,
  and the values a COPY's CONTEXT line quotes;
- anything that looks like an e-mail address;
- anything that looks like a phone number: 7 to 15 digits in a row (a leading + allowed)
  not part of a longer word, number or decimal, and the usual grouped forms
  ("138 0013 8000", "021-5555-1234").

The phone rule also hides other long bare numbers (an 8-digit id, a Unix time): a log
line that loses one is cheaper than one that leaks a phone number. Settings LOGGING puts
the filter on every handler; crm/celery.py adds it to the handlers a Celery worker sets up,
and gunicorn.conf.py to the server's. Plain Python only (no Django), so gunicorn's master
can load it before Django is set up.
"""

import logging
import re

REDACTED = "[redacted]"

_RULES: tuple[tuple[re.Pattern, str], ...] = (
    # PostgreSQL's DETAIL line (psycopg puts it on its own line of str(error)).
    (re.compile(r"(DETAIL:)[^\n]*"), rf"\1 {REDACTED}"),
    # The same payloads wherever a message quotes them without the DETAIL prefix.
    (re.compile(r"(Failing row contains )\([^\n]*"), rf"\1{REDACTED}"),
    (re.compile(r"(Key \([^)\n]*\)=)\([^\n]*?\)(?= already exists|\s|$)"), rf"\1({REDACTED})"),
    # COPY ... CONTEXT: `COPY table, line 2, column phone: "13800138000"`.
    (re.compile(r'(\bcolumn [\w ]+: )"[^\n]*"'), rf"\1{REDACTED}"),
    (re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
)
# A phone-shaped run: 7 to 15 digits, or groups of digits split by single spaces or hyphens
# ("+86 138 0013 8000"), with a leading + allowed; not inside a word or a decimal number,
# and not an ISO date. The digits are counted in _phone.
_PHONE = re.compile(
    r"(?<![\w+-])(?<![0-9]\.)(?![0-9]{4}-[0-9]{2}-[0-9]{2}(?![0-9]))"
    r"\+?(?:[0-9]{1,4}(?:[ -][0-9]{2,4}){2,4}|[0-9]{7,15})"
    r"(?![\w+-])(?!\.[0-9])"
)


def _phone(match: re.Match) -> str:
    digits = sum(character.isdigit() for character in match.group())
    return "[phone]" if 7 <= digits <= 15 else match.group()


def redact_personal_data(text: str) -> str:
    """`text` with database error payloads, e-mail addresses and phone numbers redacted."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return _PHONE.sub(_phone, text)


class RedactPersonalData(logging.Filter):
    """Redacts personal data from a record's message, traceback and stack (never drops it).

    The record is changed in place, so every handler after this one sees it redacted too.
    The traceback is formatted here and kept as redacted text (`exc_text`); `exc_info` is
    cleared so that no handler formats the original again.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True  # a broken record: the handler reports it as usual
        record.msg, record.args = redact_personal_data(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_personal_data(record.exc_text)
        record.exc_info = None
        if record.stack_info:
            record.stack_info = redact_personal_data(record.stack_info)
        return True
