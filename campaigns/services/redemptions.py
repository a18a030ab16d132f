"""Redemption of coupons on orders, and their restoration when an order is refunded."""

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest

from campaigns.enums import CouponEventKind, CouponKind, CouponStatus, RedemptionRefusalReason
from campaigns.exceptions import RedemptionRefused
from campaigns.models import Coupon, CouponEvent, Redemption
from campaigns.operator_time import operator_time
from campaigns.restrictions import matching_key
from crm.core.replica import reads_primary
from crm.enums import OrderStatus, PointsReason
from crm.models import Customer, Order
from crm.services.points import points_change

CENT = Decimal("0.01")


@dataclass(frozen=True)
class OrderLine:
    sku: str
    category: str
    quantity: int
    unit_price: Decimal

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class RedemptionResult:
    redemption: Redemption
    created: bool


@transaction.atomic
@reads_primary
def redeem_coupon(
    *,
    code: str,
    customer: Customer,
    order_id: str,
    amount: Decimal,
    items: list[OrderLine],
    store: str,
    city: str,
    now: datetime,
) -> RedemptionResult:
    """Redeem coupon `code` on an order, or raise RedemptionRefused(reason, detail).

    Checks, in order: the code exists, belongs to `customer`, is not used on another order,
    is inside its validity window, the order reaches the threshold and matches every
    restriction (store, city, categories, SKUs; with a category/SKU restriction only the
    matching items count toward the threshold and the discount). Idempotent per (code,
    order): the same order again returns its live redemption (created=False); a coupon a
    refund restored is redeemed anew, even on the same order. The coupon row is locked, so
    two orders can never redeem one coupon. Raises ValidationError (amount) unless the order
    amount is above 0.
    """
    if amount <= 0:
        # A 0.00 order used the coupon up for a 0.00 discount.
        raise ValidationError({"amount": "The order amount must be above 0."})
    coupon = (
        Coupon.objects.select_for_update()
        .select_related("template", "grant__channel")
        .filter(code=code.strip().upper())
        .first()
    )
    # A partner's coupon waiting for its code was never given to anyone under this one.
    if coupon is None or coupon.status == CouponStatus.PENDING:
        raise RedemptionRefused(RedemptionRefusalReason.UNKNOWN_CODE, f"no coupon {code!r}")
    if coupon.customer_id != customer.pk:
        raise RedemptionRefused(
            RedemptionRefusalReason.WRONG_CUSTOMER,
            f"coupon {coupon.code} belongs to another customer",
        )
    live = coupon.redemptions.filter(reversed_at__isnull=True).first()
    if live is not None:
        if live.order_id == order_id:
            return RedemptionResult(redemption=live, created=False)
        raise RedemptionRefused(
            RedemptionRefusalReason.ALREADY_REDEEMED,
            f"coupon {coupon.code} was redeemed on order {live.order_id}",
        )
    if coupon.status == CouponStatus.EXPIRED or now >= coupon.valid_until:
        raise RedemptionRefused(
            RedemptionRefusalReason.EXPIRED,
            f"coupon {coupon.code} expired at {operator_time(coupon.valid_until)}",
        )
    if coupon.status == CouponStatus.REVOKED:
        raise RedemptionRefused(
            RedemptionRefusalReason.EXPIRED, f"coupon {coupon.code} was revoked"
        )
    if now < coupon.valid_from:
        raise RedemptionRefused(
            RedemptionRefusalReason.NOT_YET_VALID,
            f"coupon {coupon.code} is valid from {operator_time(coupon.valid_from)}",
        )
    eligible = _eligible_amount(coupon, amount=amount, items=items, store=store, city=city)
    if eligible < coupon.threshold:
        raise RedemptionRefused(
            RedemptionRefusalReason.THRESHOLD_NOT_MET,
            f"eligible amount {eligible} is below the threshold {coupon.threshold}",
        )
    discount = _discount(coupon, eligible)
    redemption = Redemption.objects.create(
        coupon=coupon,
        customer=customer,
        order_id=order_id,
        order_amount=amount,
        discount=discount,
        store=store,
        city=city,
        redeemed_at=now,
    )
    Coupon.objects.filter(pk=coupon.pk).update(
        status=CouponStatus.REDEEMED, status_changed_at=now, updated_at=now
    )
    if coupon.template.kind == CouponKind.POINTS:
        with points_change(
            reason=PointsReason.COUPON_REDEEMED, reference=f"coupon {coupon.code}", now=now
        ):
            Customer.objects.filter(pk=customer.pk).update(
                points=F("points") + int(coupon.face_value), updated_at=now
            )
    CouponEvent.objects.create(
        kind=CouponEventKind.REDEMPTION,
        at=now,
        campaign_id=coupon.campaign_id,
        customer=customer,
        coupon=coupon,
        channel_code=coupon.grant.channel.code,
        reason=order_id,
        amount=discount,
    )
    return RedemptionResult(redemption=redemption, created=True)


def _eligible_amount(
    coupon: Coupon, *, amount: Decimal, items: list[OrderLine], store: str, city: str
) -> Decimal:
    # Restriction values are codes matched trimmed and case-insensitively
    # (campaigns.restrictions): "Dried_Fruit" typed on the template fits dried_fruit.
    template = coupon.template
    stores, cities, categories, skus = (
        {matching_key(value) for value in values}
        for values in (template.stores, template.cities, template.categories, template.skus)
    )
    if stores and matching_key(store) not in stores:
        raise RedemptionRefused(
            RedemptionRefusalReason.RESTRICTION_MISMATCH,
            f"store {store or '(none)'!r} is not one of {', '.join(template.stores)}",
        )
    if cities and matching_key(city) not in cities:
        raise RedemptionRefused(
            RedemptionRefusalReason.RESTRICTION_MISMATCH,
            f"city {city or '(none)'!r} is not one of {', '.join(template.cities)}",
        )
    if not (categories or skus):
        return amount
    matching = [
        item
        for item in items
        if (not categories or matching_key(item.category) in categories)
        and (not skus or matching_key(item.sku) in skus)
    ]
    if not matching:
        wanted = ", ".join([*template.categories, *template.skus])
        raise RedemptionRefused(
            RedemptionRefusalReason.RESTRICTION_MISMATCH,
            f"no item of the order is in {wanted}",
        )
    return min(amount, sum((item.amount for item in matching), Decimal("0")))


def _discount(coupon: Coupon, eligible: Decimal) -> Decimal:
    template = coupon.template
    if template.kind == CouponKind.PERCENT:
        off = (eligible * coupon.face_value / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        return min(off, template.max_discount)
    if template.kind == CouponKind.CASH:
        return min(coupon.face_value, eligible)
    if template.kind == CouponKind.GIFT:
        return coupon.face_value
    return Decimal("0.00")  # points: credited to the customer, no money off


@transaction.atomic
def restore_coupons_on_refund(*, order_id: str, now: datetime) -> int:
    """Reverse the live redemptions of a refunded order; returns how many.

    A coupon still inside its validity window becomes unused again; one past it becomes
    expired. Idempotent: a second call finds nothing live and returns 0.
    """
    redemptions = list(
        Redemption.objects.select_for_update()
        .filter(order_id=order_id, reversed_at__isnull=True)
        .select_related("coupon__grant__channel", "coupon__template")
        .order_by("pk")
    )
    for redemption in redemptions:
        coupon = redemption.coupon
        still_valid = now < coupon.valid_until
        Redemption.objects.filter(pk=redemption.pk).update(reversed_at=now)
        if coupon.template.kind == CouponKind.POINTS:
            # The points the coupon credited are taken back, down to 0 when some were spent.
            with points_change(
                reason=PointsReason.REDEMPTION_REVERSED,
                reference=f"coupon {coupon.code}, order {order_id}",
                now=now,
            ):
                Customer.objects.filter(pk=coupon.customer_id).update(
                    points=Greatest(F("points") - int(coupon.face_value), 0), updated_at=now
                )
        Coupon.objects.filter(pk=coupon.pk).update(
            status=CouponStatus.UNUSED if still_valid else CouponStatus.EXPIRED,
            status_changed_at=now,
            updated_at=now,
        )
        CouponEvent.objects.create(
            kind=CouponEventKind.RESTORE if still_valid else CouponEventKind.EXPIRY,
            at=now,
            campaign_id=coupon.campaign_id,
            customer_id=coupon.customer_id,
            coupon=coupon,
            channel_code=coupon.grant.channel.code,
            reason=order_id,
            amount=-redemption.discount,
        )
    return len(redemptions)


def reverse_redemptions_of_refunded_orders(*, now: datetime) -> int:
    """Reverse every live redemption whose order the CRM now holds as refunded or cancelled
    (an order import or the bulk API changed its status), restoring its coupon as
    restore_coupons_on_refund does. Returns how many redemptions were reversed.

    Run by Celery beat every minute: the customer-data domain records the refund and this
    domain reacts to it, without crm importing campaigns. Idempotent.
    """
    order_ids = (
        Redemption.objects.filter(
            reversed_at__isnull=True,
            order_id__in=Order.objects.filter(
                status__in=[OrderStatus.REFUNDED, OrderStatus.CANCELLED]
            ).values("order_id"),
        )
        .order_by("order_id")
        .values_list("order_id", flat=True)
        .distinct()
    )
    return sum(restore_coupons_on_refund(order_id=order_id, now=now) for order_id in order_ids)
