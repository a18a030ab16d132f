"""Codes from a partner's platform for the partner's coupons (SPEC §4 special playbooks).

Never a grant the customer sees without a code, never a code without a grant:
- the claim engine issues a partner's coupon as `pending`: counted against stock, budget
  and limits, invisible to the customer (customer reads, redemption, messages wait);
- the platform is asked only after the grant committed, with the coupon's own reference as
  the request id: a retry after a lost answer gets the same code, never a second one;
- a code that comes is stored on its coupon, which becomes `unused` and visible;
- a grant whose code does not come within PARTNER_CODE_MAX_ROUNDS rounds or
  PARTNER_CODE_DEADLINE_SECONDS is cancelled: its coupons revoked, stock, budget and limits
  given back, its key freed, its waiting messages suppressed (grant_cancelled).
The claim API asks at once (one round) and answers 503 when the partner failed; pushes
and automatic grants are served by request_partner_codes, after each batch and from beat.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from campaigns.channel_backends import DeliveryError
from campaigns.channel_backends.partner import CodeRequest, platform_for
from campaigns.enums import CouponStatus, MessageReason, MessageStatus
from campaigns.exceptions import PartnerCodeUnavailable
from campaigns.models import Coupon, Message
from campaigns.services.claims import ClaimResult, claim_coupon
from campaigns.services.support import cancel_pending_grant

CANCEL_REASON = "partner_code_missing"
CHUNK = 200


@dataclass
class PartnerCodeRun:
    issued: int = 0
    failed: int = 0
    cancelled_grants: list[int] = field(default_factory=list)


def request_partner_codes(
    *, now: datetime, coupon_ids: list[int] | None = None, final: bool = False
) -> PartnerCodeRun:
    """One round for the pending partner coupons (of `coupon_ids`, or all): ask each one's
    platform for its code. A coupon's grant is cancelled when this round fails it and it
    was its last (PARTNER_CODE_MAX_ROUNDS), it waited past PARTNER_CODE_DEADLINE_SECONDS, or
    `final` (the claim API does not keep a customer waiting for a second round)."""
    run = PartnerCodeRun()
    tried: set[int] = set()
    deadline = now - timedelta(seconds=settings.PARTNER_CODE_DEADLINE_SECONDS)
    while True:
        with transaction.atomic():
            pending = Coupon.objects.select_for_update(skip_locked=True, of=("self",)).filter(
                status=CouponStatus.PENDING
            )
            if coupon_ids is not None:
                pending = pending.filter(pk__in=coupon_ids)
            chunk = list(
                pending.exclude(pk__in=tried)
                .select_related("template__partner", "campaign", "customer")
                .order_by("issued_at", "pk")[:CHUNK]
            )
            if not chunk:
                break
            to_cancel = []
            for coupon in chunk:
                if _ask(coupon, now=now):
                    run.issued += 1
                    continue
                run.failed += 1
                if (
                    final
                    or coupon.partner_attempts >= settings.PARTNER_CODE_MAX_ROUNDS
                    or coupon.issued_at <= deadline
                ):
                    to_cancel.append(coupon.grant_id)
            tried.update(coupon.pk for coupon in chunk)
        for grant_id in dict.fromkeys(to_cancel):
            if cancel_pending_grant(grant_id=grant_id, reason=CANCEL_REASON, now=now):
                _suppress_messages(grant_id)
                run.cancelled_grants.append(grant_id)
    return run


def _ask(coupon: Coupon, *, now: datetime) -> bool:
    """One round for one coupon (the platform's own bounded retries inside); the outcome is
    written on the coupon, which the caller holds locked."""
    request = CodeRequest(
        request_id=coupon.code,
        campaign=coupon.campaign.code,
        template=coupon.template.code,
        customer=coupon.customer.customer_id,
        valid_until=coupon.valid_until.isoformat(),
    )
    try:
        code = platform_for(coupon.template.partner.code).issue_code(request)
        with transaction.atomic():
            Coupon.objects.filter(pk=coupon.pk).update(
                status=CouponStatus.UNUSED,
                partner_code=code,
                partner_attempts=F("partner_attempts") + 1,
                partner_error="",
                status_changed_at=now,
                updated_at=now,
            )
    except (DeliveryError, IntegrityError) as problem:
        # IntegrityError: the platform answered a code it gave another of our coupons.
        error = str(problem) if isinstance(problem, DeliveryError) else "the code is a duplicate"
        Coupon.objects.filter(pk=coupon.pk).update(
            partner_attempts=F("partner_attempts") + 1, partner_error=error[:300], updated_at=now
        )
        coupon.partner_attempts += 1
        return False
    return True


def _suppress_messages(grant_id: int) -> None:
    """The cancelled grant's messages still waiting are never sent."""
    coupon = Coupon.objects.filter(grant_id=grant_id).values("campaign_id", "customer_id")[:1]
    for row in coupon:
        Message.objects.filter(
            campaign_id=row["campaign_id"],
            customer_id=row["customer_id"],
            status__in=[MessageStatus.QUEUED, MessageStatus.DEFERRED],
        ).update(status=MessageStatus.SUPPRESSED, reason=MessageReason.GRANT_CANCELLED)


def claim_with_partner_codes(**claim) -> ClaimResult:
    """claim_coupon (same arguments), then the partner's codes of a partner's coupons in the
    same request, one round: the answer carries codes, or PartnerCodeUnavailable when the
    platform failed (the grant is then cancelled and its key freed) or another request for
    the same key is still waiting for them."""
    result = claim_coupon(**claim)
    pending = [coupon.pk for coupon in result.coupons if coupon.status == CouponStatus.PENDING]
    if not pending:
        return result
    run = request_partner_codes(now=claim["now"], coupon_ids=pending, final=True)
    if run.cancelled_grants:
        raise PartnerCodeUnavailable(
            "the partner's platform issued no code; nothing was granted, retry later"
        )
    fresh = {
        pk: (status, code)
        for pk, status, code in Coupon.objects.filter(pk__in=pending).values_list(
            "pk", "status", "partner_code"
        )
    }
    if any(status != CouponStatus.UNUSED for status, _ in fresh.values()):
        raise PartnerCodeUnavailable("the partner's code is still on its way; retry shortly")
    for coupon in result.coupons:
        if coupon.pk in fresh:
            coupon.status, coupon.partner_code = fresh[coupon.pk]
    return result
