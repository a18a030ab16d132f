"""Birthday benefits (SPEC §4 playbooks): a running campaign with trigger `birthday` grants
its coupons, through the claim engine, to each customer of its audience on their birthday
in the operator's time zone, once a year.

Run every hour by Celery beat rather than once at midnight, so a beat that was down at
midnight still grants the day's gifts; each grant's idempotency key is
`birthday-<year>-<customer_id>`, so the hourly runs, a worker's retry and two workers at once
grant each birthday once (the engine's unique key per campaign). A 29 February birthday is
celebrated on 28 February in the other years. Customers the engine would refuse for being
outside the segment or in the holdout are left out of the run beforehand, so those refusals
are not written to the ledger every hour; the other refusals (limits, stock, budget,
anti-harassment) are the engine's, recorded as any claim's.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db.models import BooleanField, Exists, OuterRef, Q, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Concat
from django.utils import timezone

from campaigns.enums import CampaignStatus, Trigger
from campaigns.exceptions import ClaimRefused
from campaigns.models import Campaign, Grant
from campaigns.selectors import HOLDOUT_DRAWS
from campaigns.services.claims import claim_coupon
from crm.models import Customer
from segments.rules import RuleError
from segments.selectors import segment_audience


@dataclass
class BirthdayRun:
    """What one run did: grants made, and refusals by reason."""

    granted: int = 0
    refused: Counter = field(default_factory=Counter)


def grant_birthday_gifts(*, now: datetime) -> BirthdayRun:
    """Grant today's birthday gifts of every running birthday campaign (see the module)."""
    today = timezone.localdate(now, timezone.get_default_timezone())
    run = BirthdayRun()
    campaigns = Campaign.objects.select_related("segment").filter(
        status=CampaignStatus.RUNNING,
        trigger=Trigger.BIRTHDAY,
        claim_starts_at__lte=now,
        claim_ends_at__gt=now,
    )
    for campaign in campaigns:
        channel = _first_channel(campaign)
        if channel is None:
            continue
        key_prefix = f"birthday-{today.year}-"
        for customer_id in _celebrating(campaign, today=today, now=now, key_prefix=key_prefix):
            try:
                claim_coupon(
                    campaign=campaign.code,
                    customer=customer_id,
                    channel=channel,
                    trigger=Trigger.BIRTHDAY,
                    idempotency_key=key_prefix + customer_id,
                    now=now,
                )
            except ClaimRefused as refusal:
                run.refused[refusal.reason] += 1
            else:
                run.granted += 1
    return run


def born_on(today: date) -> Q:
    """Customers whose birthday is `today` (29 February ones on 28 February in other years)."""
    born = Q(birth_date__month=today.month, birth_date__day=today.day)
    if (today.month, today.day) == (2, 28) and not _is_leap(today.year):
        born |= Q(birth_date__month=2, birth_date__day=29)
    return born


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _first_channel(campaign: Campaign) -> str | None:
    """The campaign's first channel, in the order they were chosen: a grant belongs to it
    when no message was sent (SPEC §4)."""
    through = Campaign.channels.through.objects.filter(campaign=campaign).order_by("pk")
    return through.values_list("channel__code", flat=True).first()


def _celebrating(campaign: Campaign, *, today: date, now: datetime, key_prefix: str) -> list[str]:
    """customer_ids of the audience's treated members born on `today` and not yet granted
    this year's gift."""
    try:
        audience = segment_audience(segment=campaign.segment)
    except RuleError:
        return []  # rules that no longer validate admit nobody (the engine would refuse)
    granted = Grant.objects.filter(
        campaign=campaign,
        idempotency_key=Concat(Value(key_prefix), OuterRef("customer_id")),
    )
    customers = Customer.objects.filter(
        born_on(today), audience.membership(as_of=now, as_of_is_now=True)
    ).exclude(Exists(granted))
    if campaign.holdout_share > 0:
        # The engine's own draw (campaigns_holdout_draw), as campaigns.selectors.is_in_holdout.
        customers = customers.alias(
            held_out=RawSQL(
                "campaigns_holdout_draw(%s, crm_customer.id) < %s",
                (campaign.pk, campaign.holdout_share * HOLDOUT_DRAWS),
                output_field=BooleanField(),
            )
        ).filter(held_out=False)
    return list(customers.order_by("customer_id").values_list("customer_id", flat=True))
