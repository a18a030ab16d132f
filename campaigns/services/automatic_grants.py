"""Grants OpsCRM makes itself (SPEC §4 playbooks: `birthday`, `first_order`), through the
claim engine like any claim, each under an idempotency key that names its occasion, so a
periodic run, a worker's retry or two workers at once grant each occasion once (the
engine's unique key per campaign).

The occasion's customers (born today, first order since the start) are narrowed to those the
engine would not refuse for being outside the segment or in the holdout, and to those
without this occasion's grant yet, so a run every hour or minute does not write the same
refusal to the ledger each time; the other refusals (limits, stock, budget,
anti-harassment) are the engine's, recorded as any claim's.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import BooleanField, Exists, OuterRef, Q, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Concat

from campaigns.enums import CampaignStatus
from campaigns.exceptions import ClaimRefused
from campaigns.models import Campaign, Grant
from campaigns.selectors import holdout_sql, members_of_campaign
from campaigns.services.claims import claim_coupon
from crm.models import Customer
from segments.rules import RuleError
from segments.selectors import segment_audience


@dataclass
class AutomaticRun:
    """What one run did: grants made, and refusals by reason."""

    granted: int = 0
    refused: Counter = field(default_factory=Counter)


def grant_occasions(
    *,
    trigger: str,
    now: datetime,
    occasion: Callable[[Campaign], tuple[Q, str]],
) -> AutomaticRun:
    """Grant every running `trigger` campaign to its customers of the occasion.

    `occasion(campaign)` gives the customers' condition and the key prefix of this
    occasion (the customer_id completes the key).
    """
    run = AutomaticRun()
    campaigns = Campaign.objects.select_related("segment").filter(
        status=CampaignStatus.RUNNING,
        trigger=trigger,
        claim_starts_at__lte=now,
        claim_ends_at__gt=now,
    )
    for campaign in campaigns:
        channel = first_channel(campaign.pk)
        if channel is None:
            continue
        condition, key_prefix = occasion(campaign)
        for customer_id in _due(campaign, condition=condition, key_prefix=key_prefix, now=now):
            try:
                claim_coupon(
                    campaign=campaign.code,
                    customer=customer_id,
                    channel=channel,
                    trigger=trigger,
                    idempotency_key=key_prefix + customer_id,
                    now=now,
                )
            except ClaimRefused as refusal:
                run.refused[refusal.reason] += 1
            else:
                run.granted += 1
    return run


def first_channel(campaign_id: int) -> str | None:
    """The campaign's first channel, in the order they were chosen: a grant belongs to it
    when no message was sent (SPEC §4)."""
    through = Campaign.channels.through.objects.filter(campaign_id=campaign_id).order_by("pk")
    return through.values_list("channel__code", flat=True).first()


def _due(campaign: Campaign, *, condition: Q, key_prefix: str, now: datetime) -> list[str]:
    """customer_ids meeting `condition`, in the audience and treated, without this
    occasion's grant yet."""
    customers = eligible_customers(campaign, condition=condition, now=now)
    if customers is None:
        return []
    granted = Grant.objects.filter(
        campaign=campaign,
        idempotency_key=Concat(Value(key_prefix), OuterRef("customer_id")),
    )
    customers = customers.exclude(Exists(granted))
    return list(customers.order_by("customer_id").values_list("customer_id", flat=True))


def eligible_customers(campaign: Campaign, *, condition: Q, now: datetime):
    """The customers meeting `condition` that the campaign's engine would grant at `now`
    as far as who they are goes: in the audience (segment, members or tiers) and treated;
    None when the segment's rules no longer validate (the engine would refuse everyone)."""
    try:
        audience = segment_audience(segment=campaign.segment)
    except RuleError:
        return None
    customers = members_of_campaign(
        Customer.objects.filter(condition, audience.membership(as_of=now, as_of_is_now=True)),
        campaign,
    )
    if campaign.holdout_share > 0:
        held_out, params = holdout_sql(campaign=campaign, customer_pk="crm_customer.id")
        customers = customers.alias(
            held_out=RawSQL(held_out, params, output_field=BooleanField())  # noqa: S611 - fixed SQL
        ).filter(held_out=False)
    return customers
