"""Referral gifts (SPEC §4 special): a running campaign with trigger `referral` grants its
coupons to both sides of each referral recorded after it started (crm Referral, from the
API or a CSV import): the referrer and the referee, each once per referral (the keys
`referral-<id>-referrer` and `referral-<id>-referee`), through the claim engine, so the
campaign's limits decide how many referrals one referrer is rewarded for. A side outside
the campaign's audience or in its holdout is not granted (and not retried each run).
Celery beat runs it every minute.
"""

from datetime import datetime

from django.db.models import CharField, Exists, OuterRef, Q, Value
from django.db.models.functions import Cast, Concat

from campaigns.enums import CampaignStatus, Trigger
from campaigns.exceptions import ClaimRefused
from campaigns.models import Campaign, Grant
from campaigns.services.automatic_grants import AutomaticRun, eligible_customers, first_channel
from campaigns.services.claims import claim_coupon
from crm.models import Referral

SIDES = ("referrer", "referee")


def referral_key(referral_id: int, side: str) -> str:
    """The idempotency key of one side's gift for one referral."""
    return f"referral-{referral_id}-{side}"


def grant_referral_gifts(*, now: datetime) -> AutomaticRun:
    """Grant the referral gifts due at `now` of every running referral campaign."""
    run = AutomaticRun()
    campaigns = Campaign.objects.select_related("segment").filter(
        status=CampaignStatus.RUNNING,
        trigger=Trigger.REFERRAL,
        claim_starts_at__lte=now,
        claim_ends_at__gt=now,
    )
    for campaign in campaigns:
        channel = first_channel(campaign.pk)
        if channel is None:
            continue
        for referral_id, side, customer_id in _due(campaign, now=now):
            try:
                claim_coupon(
                    campaign=campaign.code,
                    customer=customer_id,
                    channel=channel,
                    trigger=Trigger.REFERRAL,
                    idempotency_key=referral_key(referral_id, side),
                    now=now,
                )
            except ClaimRefused as refusal:
                run.refused[refusal.reason] += 1
            else:
                run.granted += 1
    return run


def _due(campaign: Campaign, *, now: datetime) -> list[tuple[int, str, str]]:
    """(referral id, side, customer_id) of the sides not granted yet, for the referrals
    recorded since the campaign started, in the order they were referred."""
    eligible = eligible_customers(campaign, condition=Q(), now=now)
    if eligible is None:
        return []
    referrals = Referral.objects.filter(
        referred_at__gte=campaign.claim_starts_at, referred_at__lte=now
    ).order_by("referred_at", "pk")
    due = []
    for side in SIDES:
        granted = Grant.objects.filter(campaign=campaign, idempotency_key=_key_expression(side))
        rows = (
            referrals.filter(**{f"{side}__in": eligible.values("pk")})
            .exclude(Exists(granted))
            .values_list("pk", "referred_at", f"{side}__customer_id")
        )
        due.extend((pk, at, side, customer_id) for pk, at, customer_id in rows)
    due.sort(key=lambda row: (row[1], row[0], SIDES.index(row[2])))
    return [(pk, side, customer_id) for pk, _, side, customer_id in due]


def _key_expression(side: str):
    return Concat(
        Value("referral-"), Cast(OuterRef("pk"), CharField()), Value(f"-{side}"),
        output_field=CharField(),
    )  # fmt: skip
