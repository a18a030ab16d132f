"""Support staff actions on a customer's coupons: revoke and reissue, always audited."""

from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from campaigns import locks
from campaigns.enums import CouponEventKind, CouponStatus
from campaigns.exceptions import CampaignActionRefused
from campaigns.models import Campaign, Coupon, CouponEvent, CustomerCampaignCounter, Grant
from campaigns.services.claims import ClaimResult, claim_coupon
from crm.core.models import AuditEntry


@transaction.atomic
def revoke_coupon(*, coupon: Coupon, actor, reason: str, now: datetime) -> Coupon:
    """Revoke an unused coupon and give its grant back to the campaign and the customer.

    Takes the engine's locks in their fixed order (customer, counter, campaign), so the
    counters it lowers cannot race a claim. Requires a reason; writes an AuditEntry.
    """
    if not reason.strip():
        raise CampaignActionRefused("reason_required", ["say why the coupon is revoked"])
    locks.lock_customer(coupon.customer_id)
    coupon = Coupon.objects.select_for_update().select_related("grant__channel").get(pk=coupon.pk)
    if coupon.status != CouponStatus.UNUSED:
        raise CampaignActionRefused(
            "invalid_status", [f"coupon {coupon.code} is {coupon.status}, only unused coupons"]
        )
    _give_back(coupon, reason=reason, now=now)
    AuditEntry.objects.create(
        at=now,
        actor=actor,
        action="coupon.revoke",
        object_type="coupon",
        object_id=coupon.code,
        changes={"status": [CouponStatus.UNUSED, CouponStatus.REVOKED]},
        reason=reason,
    )
    coupon.refresh_from_db()
    return coupon


@transaction.atomic
def cancel_pending_grant(*, grant_id: int, reason: str, now: datetime) -> bool:
    """Cancel a grant whose partner's codes never came: its pending coupons are revoked with
    their stock, budget and limits given back, and its idempotency key is freed (a claim
    retried with the same key is decided anew). False when none of its coupons is still
    pending (a code came meanwhile)."""
    grant = Grant.objects.get(pk=grant_id)
    locks.lock_customer(grant.customer_id)
    pending = list(
        Coupon.objects.select_for_update()
        .select_related("grant__channel")
        .filter(grant_id=grant_id, status=CouponStatus.PENDING)
        .order_by("pk")
    )
    if not pending:
        return False
    # Coupons of the grant that did get a code go too: the grant is all or nothing.
    others = list(
        Coupon.objects.select_for_update()
        .select_related("grant__channel")
        .filter(grant_id=grant_id, status=CouponStatus.UNUSED)
        .order_by("pk")
    )
    for coupon in [*pending, *others]:
        _give_back(coupon, reason=reason, now=now)
    Grant.objects.filter(pk=grant_id).update(
        idempotency_key=f"cancelled-{grant_id}:{grant.idempotency_key}"[:100]
    )
    AuditEntry.objects.create(
        at=now,
        actor=None,
        action="grant.cancel",
        object_type="grant",
        object_id=str(grant_id),
        changes={"coupons": [coupon.code for coupon in [*pending, *others]]},
        reason=reason,
    )
    return True


def _give_back(coupon: Coupon, *, reason: str, now: datetime) -> None:
    """Revoke `coupon` (locked, with its customer's lock held) and give its grant back to
    the campaign and the customer, taking the counter and campaign locks in the engine's
    order; the ledger records the revoke."""
    campaign = coupon.campaign
    counter = locks.lock_customer_counter(campaign=campaign, customer_id=coupon.customer_id)
    locks.lock_campaign(campaign.pk)
    cost = coupon.template.budget_cost
    Coupon.objects.filter(pk=coupon.pk).update(
        status=CouponStatus.REVOKED, status_changed_at=now, updated_at=now
    )
    Campaign.objects.filter(pk=campaign.pk).update(
        issued_count=F("issued_count") - 1, spent=F("spent") - cost
    )
    # The grant no longer counts toward the customer's limit once all its coupons are gone.
    live = [CouponStatus.UNUSED, CouponStatus.PENDING]
    if not coupon.grant.coupons.filter(status__in=live).exclude(pk=coupon.pk).exists():
        CustomerCampaignCounter.objects.filter(pk=counter.pk, total_grants__gt=0).update(
            total_grants=F("total_grants") - 1
        )
        grant_day = timezone.localdate(coupon.grant.granted_at, timezone.get_default_timezone())
        CustomerCampaignCounter.objects.filter(
            pk=counter.pk, day=grant_day, day_grants__gt=0
        ).update(day_grants=F("day_grants") - 1)
    CouponEvent.objects.create(
        kind=CouponEventKind.REVOKE,
        at=now,
        campaign=campaign,
        customer_id=coupon.customer_id,
        coupon=coupon,
        channel_code=coupon.grant.channel.code,
        reason=reason[:40],
        amount=-coupon.face_value,
    )


@transaction.atomic
def reissue_coupon(*, coupon: Coupon, actor, reason: str, now: datetime) -> ClaimResult:
    """Replace an unused coupon with a new grant of the same campaign, through the engine.

    The old coupon is revoked first (its grant given back), then claim_coupon decides the
    new grant with every rule, so a reissue can never exceed stock, budget or limits. It
    claims on the campaign's trigger, through the old grant's channel while the campaign
    still uses it, else through the campaign's first channel: the engine refuses any other
    (a grant made before it checked them may carry one).
    """
    grant = coupon.grant
    campaign = coupon.campaign
    revoke_coupon(coupon=coupon, actor=actor, reason=reason, now=now)
    # The campaign's order is the order its channels were added in (SPEC §4: a grant
    # belongs to the first channel that reached the customer, else the first one).
    channels = list(
        Campaign.channels.through.objects.filter(campaign=campaign)
        .order_by("pk")
        .values_list("channel__code", flat=True)
    )
    keeps_channel = grant.channel.code in channels or not channels
    result = claim_coupon(
        campaign=campaign.code,
        customer=coupon.customer.customer_id,
        channel=grant.channel.code if keeps_channel else channels[0],
        trigger=campaign.trigger,
        idempotency_key=f"reissue:{coupon.code}",
        now=now,
    )
    AuditEntry.objects.create(
        at=now,
        actor=actor,
        action="coupon.reissue",
        object_type="coupon",
        object_id=coupon.code,
        changes={"replaced_by": [c.code for c in result.coupons]},
        reason=reason,
    )
    return result
