"""Birthday benefits (SPEC §4 playbooks): a running campaign with trigger `birthday` grants
its coupons to each customer of its audience on their birthday in the operator's time
zone, once a year (the key `birthday-<year>-<customer_id>`; campaigns.services.
automatic_grants). Run every hour by Celery beat rather than once at midnight, so a beat
that was down at midnight still grants the day's gifts. A 29 February birthday is
celebrated on 28 February in the other years.
"""

from datetime import date, datetime

from django.db.models import Q
from django.utils import timezone

from campaigns.enums import Trigger
from campaigns.services.automatic_grants import AutomaticRun, grant_occasions


def grant_birthday_gifts(*, now: datetime) -> AutomaticRun:
    """Grant today's birthday gifts of every running birthday campaign."""
    today = timezone.localdate(now, timezone.get_default_timezone())
    return grant_occasions(
        trigger=Trigger.BIRTHDAY,
        now=now,
        occasion=lambda campaign: (born_on(today), f"birthday-{today.year}-"),
    )


def born_on(today: date) -> Q:
    """Customers whose birthday is `today` (29 February ones on 28 February in other years)."""
    born = Q(birth_date__month=today.month, birth_date__day=today.day)
    if (today.month, today.day) == (2, 28) and not _is_leap(today.year):
        born |= Q(birth_date__month=2, birth_date__day=29)
    return born


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
