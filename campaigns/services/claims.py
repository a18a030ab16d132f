"""THE claim engine: the API, the scheduled push and the admin reissue all grant here.

Decision order (SPEC §4, reasons of SPEC §5): not_running, outside_window, out_of_scope,
not_in_audience, holdout, daily_limit, campaign_limit, out_of_stock, budget_exhausted,
harassment_cap, harassment_interval. The first five need no lock; the rest are decided
under the row locks of campaigns/locks.py, taken in its fixed order, and every counter is
written with a conditional F() update that CHECK constraints back up.
"""

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from campaigns import locks
from campaigns.enums import (
    CampaignStatus,
    ClaimRefusalReason,
    CouponEventKind,
    CouponStatus,
    Trigger,
)
from campaigns.exceptions import ClaimRefused, IdempotencyKeyReused
from campaigns.models import (
    Campaign,
    CampaignResource,
    Coupon,
    CouponEvent,
    CouponTemplate,
    CustomerCampaignCounter,
    Grant,
    HarassmentSettings,
)
from crm.models import Channel, Customer
from segments.selectors import is_in_segment

# Coupon codes: 12 characters of an unambiguous alphabet, ~59 bits of randomness.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12


@dataclass(frozen=True)
class ClaimResult:
    grant: Grant
    coupons: list[Coupon]
    created: bool


def current_harassment_settings() -> HarassmentSettings:
    """The single settings row, created with the defaults on first use."""
    harassment_settings, _ = HarassmentSettings.objects.get_or_create(pk=1)
    return harassment_settings


def is_in_holdout(*, campaign: Campaign, customer: Customer) -> bool:
    """Stable and random: a hash of (campaign, customer) against the holdout share.

    The same customer is always on the same side for a campaign, without storing anything;
    different campaigns draw independently.
    """
    if campaign.holdout_share <= 0:
        return False
    digest = hashlib.sha256(f"holdout:{campaign.pk}:{customer.pk}".encode()).digest()
    draw = Decimal(int.from_bytes(digest[:8], "big")) / Decimal(2**64)
    return draw < campaign.holdout_share


def claim_coupon(
    *,
    campaign: Campaign,
    customer: Customer,
    channel: Channel,
    trigger: str,
    idempotency_key: str,
    now: datetime,
) -> ClaimResult:
    """Grant one claim of `campaign` to `customer`, or raise ClaimRefused(reason, detail).

    Atomic: a grant writes its counters, coupons and ledger rows together or not at all.
    Holds under concurrency: per-customer limits, stock and budget are decided under the
    locks of campaigns/locks.py (customer, counter, campaign, in that order). Idempotent: a
    repeated `idempotency_key` returns the first grant's coupons (created=False); the same
    key with another customer, channel or trigger raises IdempotencyKeyReused. Refusals
    are recorded in the ledger (CouponEvent kind=refusal) for the refusals-by-reason report.
    """
    fingerprint = _fingerprint(campaign, customer, channel, trigger)
    try:
        existing = Grant.objects.filter(campaign=campaign, idempotency_key=idempotency_key).first()
        if existing is not None:
            return _replay(existing, fingerprint)
        _check_before_locks(campaign=campaign, customer=customer, now=now)
        return _grant(
            campaign=campaign,
            customer=customer,
            channel=channel,
            trigger=trigger,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            now=now,
        )
    except ClaimRefused as refusal:
        CouponEvent.objects.create(
            kind=CouponEventKind.REFUSAL,
            at=now,
            campaign=campaign,
            customer=customer,
            channel_code=channel.code,
            reason=refusal.reason,
        )
        raise
    except IntegrityError:
        # Two requests with the same key raced past the first look-up; the unique
        # constraint let one win. Answer like a retry of that one.
        existing = Grant.objects.get(campaign=campaign, idempotency_key=idempotency_key)
        return _replay(existing, fingerprint)


def _fingerprint(campaign: Campaign, customer: Customer, channel: Channel, trigger: str) -> str:
    payload = json.dumps(
        [campaign.code, customer.customer_id, channel.code, str(trigger)], separators=(",", ":")
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _replay(grant: Grant, fingerprint: str) -> ClaimResult:
    if grant.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            f"idempotency_key {grant.idempotency_key!r} was used for another claim "
            "(different customer, channel or trigger)"
        )
    return ClaimResult(grant=grant, coupons=list(grant.coupons.order_by("pk")), created=False)


def _check_before_locks(*, campaign: Campaign, customer: Customer, now: datetime) -> None:
    _check_status_and_window(campaign, now)
    if campaign.cities and customer.city not in campaign.cities:
        raise ClaimRefused(
            ClaimRefusalReason.OUT_OF_SCOPE,
            f"city {customer.city or '(unknown)'!r} is not in the campaign's cities "
            f"{', '.join(campaign.cities)}",
        )
    # The claim is decided now, so the stored metric columns answer (fast path).
    if not is_in_segment(customer=customer, segment=campaign.segment, as_of=now, as_of_is_now=True):
        raise ClaimRefused(
            ClaimRefusalReason.NOT_IN_AUDIENCE,
            f"customer {customer.customer_id} is not in segment {campaign.segment.name!r}",
        )
    if is_in_holdout(campaign=campaign, customer=customer):
        raise ClaimRefused(
            ClaimRefusalReason.HOLDOUT,
            f"customer {customer.customer_id} is in the campaign's holdout group",
        )


def _check_status_and_window(campaign: Campaign, now: datetime) -> None:
    if campaign.status != CampaignStatus.RUNNING:
        raise ClaimRefused(
            ClaimRefusalReason.NOT_RUNNING, f"campaign {campaign.code} is {campaign.status}"
        )
    if not campaign.claim_starts_at <= now < campaign.claim_ends_at:
        raise ClaimRefused(
            ClaimRefusalReason.OUTSIDE_WINDOW,
            f"claims are open from {campaign.claim_starts_at.isoformat()} "
            f"until {campaign.claim_ends_at.isoformat()}",
        )


@transaction.atomic
def _grant(
    *,
    campaign: Campaign,
    customer: Customer,
    channel: Channel,
    trigger: str,
    idempotency_key: str,
    fingerprint: str,
    now: datetime,
) -> ClaimResult:
    locks.lock_customer(customer.pk)
    existing = Grant.objects.filter(campaign_id=campaign.pk, idempotency_key=idempotency_key)
    if grant := existing.first():
        # A retry that waited for the customer lock while the first request committed.
        return _replay(grant, fingerprint)
    # The caller's campaign row is good enough here: the counter only copies its limits,
    # which the counter update below rewrites from the locked row (one round trip saved).
    counter = locks.lock_customer_counter(campaign=campaign, customer_id=customer.pk)
    campaign = locks.lock_campaign(campaign.pk)
    _check_status_and_window(campaign, now)  # it may have been paused meanwhile

    resources = list(CampaignResource.objects.filter(campaign=campaign).select_related("template"))
    coupon_count = sum(resource.quantity for resource in resources)
    cost = sum((r.template.budget_cost * r.quantity for r in resources), Decimal("0"))
    # The daily limit's day is the calendar day in the operator's zone.
    today = timezone.localdate(now, timezone.get_default_timezone())
    grants_today = counter.day_grants if counter.day == today else 0
    self_claim = trigger == Trigger.SELF

    if grants_today >= campaign.daily_limit_per_customer:
        raise ClaimRefused(
            ClaimRefusalReason.DAILY_LIMIT,
            f"{grants_today} of {campaign.daily_limit_per_customer} grants today already",
        )
    if counter.total_grants >= campaign.limit_per_customer:
        raise ClaimRefused(
            ClaimRefusalReason.CAMPAIGN_LIMIT,
            f"{counter.total_grants} of {campaign.limit_per_customer} grants in this campaign",
        )
    if campaign.issued_count + coupon_count > campaign.stock:
        raise ClaimRefused(
            ClaimRefusalReason.OUT_OF_STOCK,
            f"{campaign.stock - campaign.issued_count} coupons left, a grant needs {coupon_count}",
        )
    if campaign.spent + cost > campaign.budget:
        raise ClaimRefused(
            ClaimRefusalReason.BUDGET_EXHAUSTED,
            f"{campaign.budget - campaign.spent} of the budget left, a grant costs {cost}",
        )
    if not self_claim:
        _check_harassment(customer=customer, resources=resources, now=now)

    CustomerCampaignCounter.objects.filter(pk=counter.pk).update(
        total_grants=F("total_grants") + 1,
        day_grants=Case(When(day=today, then=F("day_grants") + 1), default=Value(1)),
        day=today,
        limit_total=campaign.limit_per_customer,
        limit_daily=campaign.daily_limit_per_customer,
    )
    Campaign.objects.filter(pk=campaign.pk).update(
        issued_count=F("issued_count") + coupon_count, spent=F("spent") + cost
    )
    grant = Grant.objects.create(
        campaign=campaign,
        customer=customer,
        channel=channel,
        trigger=trigger,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        granted_at=now,
        coupon_count=coupon_count,
        cost=cost,
    )
    coupons = Coupon.objects.bulk_create(
        [
            _new_coupon(template=resource.template, grant=grant, self_claim=self_claim, now=now)
            for resource in resources
            for _ in range(resource.quantity)
        ]
    )
    CouponEvent.objects.bulk_create(
        [
            CouponEvent(
                kind=CouponEventKind.GRANT,
                at=now,
                campaign=campaign,
                customer=customer,
                coupon=coupon,
                channel_code=channel.code,
                amount=coupon.face_value,
            )
            for coupon in coupons
        ]
    )
    return ClaimResult(grant=grant, coupons=coupons, created=True)


def _check_harassment(*, customer: Customer, resources: list, now: datetime) -> None:
    """Anti-harassment rules (SPEC §4); requires the customer lock, so counts are stable."""
    rules = current_harassment_settings()
    unused = Coupon.objects.filter(
        customer=customer,
        status=CouponStatus.UNUSED,
        self_claimed=False,
        valid_until__gt=now,
    ).count()
    incoming = sum(resource.quantity for resource in resources)
    if unused + incoming > rules.max_unused_coupons:
        raise ClaimRefused(
            ClaimRefusalReason.HARASSMENT_CAP,
            f"the customer holds {unused} unused coupons; the cap is {rules.max_unused_coupons}",
        )
    interval = timedelta(hours=rules.min_hours_between_same_template)
    recent = (
        Coupon.objects.filter(
            customer=customer,
            self_claimed=False,
            status__in=[CouponStatus.UNUSED, CouponStatus.REDEEMED, CouponStatus.EXPIRED],
            template__in=[resource.template_id for resource in resources],
            issued_at__gt=now - interval,
        )
        .order_by("-issued_at")
        .first()
    )
    if recent is not None:
        raise ClaimRefused(
            ClaimRefusalReason.HARASSMENT_INTERVAL,
            f"template {recent.template.code} was granted at {recent.issued_at.isoformat()}; "
            f"at most once per {rules.min_hours_between_same_template} hours",
        )


def _new_coupon(*, template: CouponTemplate, grant: Grant, self_claim: bool, now: datetime):
    if template.valid_days:
        valid_from, valid_until = now, now + timedelta(days=template.valid_days)
    else:
        valid_from, valid_until = template.valid_from, template.valid_until
    return Coupon(
        code="".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH)),
        template=template,
        campaign_id=grant.campaign_id,
        grant=grant,
        customer_id=grant.customer_id,
        self_claimed=self_claim,
        issued_at=now,
        valid_from=valid_from,
        valid_until=valid_until,
        face_value=template.face_value,
        threshold=template.threshold,
    )
