"""Celery entry points of campaigns; each calls one service."""

from celery import shared_task
from django.utils import timezone

from campaigns.services import (
    birthday_gifts,
    expiry,
    first_order_gifts,
    lifecycle,
    push_delivery,
    redemptions,
    referral_gifts,
)


@shared_task
def advance_campaigns_task() -> dict[str, int]:
    """Start and finish campaigns at their window edges (beat: every 15 s)."""
    return lifecycle.advance_campaigns(now=timezone.now())


@shared_task
def expire_coupons_task() -> int:
    """Mark coupons past their validity as expired (beat: hourly)."""
    return expiry.expire_coupons(as_of=timezone.now())


@shared_task
def reverse_refunded_redemptions_task() -> int:
    """Restore the coupons of redemptions whose order was refunded (beat: every minute)."""
    return redemptions.reverse_redemptions_of_refunded_orders(now=timezone.now())


@shared_task
def grant_birthday_gifts_task() -> dict:
    """Grant today's birthday gifts (beat: hourly; each birthday once a year)."""
    run = birthday_gifts.grant_birthday_gifts(now=timezone.now())
    return {"granted": run.granted, "refused": dict(run.refused)}


@shared_task
def grant_first_order_gifts_task() -> dict:
    """Grant the gifts of first paid orders placed since each campaign started (beat: every
    minute; each customer once per campaign)."""
    run = first_order_gifts.grant_first_order_gifts(now=timezone.now())
    return {"granted": run.granted, "refused": dict(run.refused)}


@shared_task(bind=True)
def deliver_push_batch_task(self, batch_id: int) -> str:
    """Grant and notify one batch of a scheduled push (sent by the push's start, its resume
    and the sweeper; a batch done already is not granted again)."""
    return push_delivery.deliver_batch(
        batch_id=batch_id, now=timezone.now(), worker=self.request.hostname or ""
    )


@shared_task
def sweep_pushes_task() -> dict[str, int]:
    """Re-send lost push batches, send due messages, finish pushes (beat: every 30 s)."""
    return push_delivery.sweep_pushes(now=timezone.now())


@shared_task
def grant_referral_gifts_task() -> dict:
    """Grant both sides' gifts of the referrals recorded since each referral campaign
    started (beat: every minute; each side once per referral)."""
    run = referral_gifts.grant_referral_gifts(now=timezone.now())
    return {"granted": run.granted, "refused": dict(run.refused)}
