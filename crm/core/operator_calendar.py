"""The operator's calendar: the days and months that pages, reports and rules speak of are
calendar days and months in the operator's time zone (TIME_ZONE). Months are named by
their first day."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.utils import timezone


def start_of_local_day(day: date, time_zone: ZoneInfo | None = None) -> datetime:
    """The first instant of a calendar day in `time_zone`, by default the operator's."""
    return datetime.combine(day, time.min, tzinfo=time_zone or timezone.get_default_timezone())


def start_of_local_hour(moment: datetime) -> datetime:
    """The start of `moment`'s hour on the operator's clock (its minutes may not be UTC's:
    Asia/Kolkata is +05:30)."""
    local = timezone.localtime(moment, timezone.get_default_timezone())
    return local.replace(minute=0, second=0, microsecond=0)


def add_months(month: date, count: int) -> date:
    """The first day of the month `count` months after (before, when negative) `month`'s."""
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def months_apart(earlier: date, later: date) -> int:
    """How many months `later`'s month is after `earlier`'s."""
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def months_from(first: date, last: date) -> list[date]:
    """Every month from `first`'s to `last`'s, both included."""
    return [add_months(first, n) for n in range(months_apart(first, last) + 1)]
