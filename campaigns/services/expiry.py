"""Marking coupons past their validity as expired (periodic task)."""

from datetime import datetime

from django.db import transaction

from campaigns.enums import CouponEventKind, CouponStatus
from campaigns.models import Coupon, CouponEvent

# 10,000 coupons per transaction keeps each commit short on a busy coupons table.
EXPIRY_BATCH_SIZE = 10_000


def expire_coupons(*, as_of: datetime) -> int:
    """Mark every unused coupon whose validity ended at or before `as_of`; returns how many.

    Runs in batches, each its own transaction, so a large backlog never holds long locks;
    safe to run twice (an expired coupon is not unused any more).
    """
    total = 0
    while True:
        with transaction.atomic():
            batch = list(
                Coupon.objects.select_for_update(skip_locked=True)
                .filter(status=CouponStatus.UNUSED, valid_until__lte=as_of)
                .select_related("grant__channel")
                .order_by("pk")[:EXPIRY_BATCH_SIZE]
            )
            if not batch:
                return total
            Coupon.objects.filter(pk__in=[coupon.pk for coupon in batch]).update(
                status=CouponStatus.EXPIRED, status_changed_at=as_of, updated_at=as_of
            )
            CouponEvent.objects.bulk_create(
                [
                    CouponEvent(
                        kind=CouponEventKind.EXPIRY,
                        at=as_of,
                        campaign_id=coupon.campaign_id,
                        customer_id=coupon.customer_id,
                        coupon=coupon,
                        channel_code=coupon.grant.channel.code,
                    )
                    for coupon in batch
                ]
            )
            total += len(batch)
