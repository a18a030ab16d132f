"""Reads of the share link of a shared red envelope (SPEC §4): the public page a shop puts
behind its "share" button, where a customer claims the envelope with trigger `share`.

A campaign has a share link when it is a shared envelope claimed on the `share` trigger;
the page claims through the campaign's first on-site channel (the page is on the shop's
side of the customer), so such a campaign needs one.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.db.models import F, Sum

from campaigns.enums import CampaignStatus, EnvelopeKind, Trigger
from campaigns.models import Campaign
from crm.enums import ChannelKind


@dataclass(frozen=True)
class SharedEnvelope:
    campaign: Campaign
    # What the 1st, the 2nd and the 3rd and later claims of one customer get: the engine's
    # own decay, campaigns_shared_envelope_amount (campaigns/sql/claim_coupon.sql).
    first: Decimal
    second: Decimal
    later: Decimal
    # The on-site channel the page claims through; None when the campaign has none.
    channel: str | None
    is_open: bool


def shared_envelope(*, code: str, now: datetime) -> SharedEnvelope | None:
    """The shared envelope campaign `code` as its share page shows it, or None when the
    code names no campaign with a share link (not a shared envelope, not on `share`)."""
    campaign = (
        Campaign.objects.filter(code=code, envelope_kind=EnvelopeKind.SHARED, trigger=Trigger.SHARE)
        .exclude(status=CampaignStatus.DRAFT)
        .first()
    )
    if campaign is None:
        return None
    full = campaign.resources.aggregate(total=Sum(F("quantity") * F("template__face_value")))[
        "total"
    ] or Decimal("0")
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT campaigns_shared_envelope_amount(%s, %s, %s, n)
            FROM generate_series(0, 2) AS n ORDER BY n
            """,
            [full, campaign.decay_ratio, campaign.decay_floor],
        )
        first, second, later = (amount for (amount,) in cursor.fetchall())
    channel = (
        Campaign.channels.through.objects.filter(
            campaign=campaign, channel__kind=ChannelKind.ON_SITE
        )
        .order_by("pk")
        .values_list("channel__code", flat=True)
        .first()
    )
    return SharedEnvelope(
        campaign=campaign,
        first=first,
        second=second,
        later=later,
        channel=channel,
        is_open=campaign.status == CampaignStatus.RUNNING
        and campaign.claim_starts_at <= now < campaign.claim_ends_at,
    )
