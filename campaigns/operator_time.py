"""How a moment reads in the messages people get: in the operator's time zone (TIME_ZONE).

Pages show local times, so refusals and notices do too: "2026-11-25 00:00 (Asia/Shanghai)",
with the seconds only when the moment has some. A UTC ISO time ("2026-11-24T16:00:00+00:00")
named the previous day for a campaign that ended at midnight in Shanghai. The claim engine
writes the same form inside PostgreSQL (campaigns_operator_time in
campaigns/sql/claim_coupon.sql), so a refusal reads alike whichever door it came through.
"""

from datetime import datetime

from django.utils import timezone


def operator_zone_name() -> str:
    """The operator's time zone, as TIME_ZONE names it (an IANA name PostgreSQL knows)."""
    return timezone.get_default_timezone_name()


def operator_time(moment: datetime) -> str:
    """`moment` as a person reads it: local date and time, and the zone's name."""
    local = timezone.localtime(moment, timezone.get_default_timezone())
    shown = "%Y-%m-%d %H:%M:%S" if local.second or local.microsecond else "%Y-%m-%d %H:%M"
    return f"{local.strftime(shown)} ({operator_zone_name()})"
