"""Reads of the issued coupons and of the redemptions for the marketer's list pages and
their CSV exports.

Each list is one query with its campaign, template and channel joined in (never once per
row), reading only the columns the pages and exports show. The customer is joined for its
id alone: phone and e-mail never leave the database for these lists, whoever looks.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, F, FilteredRelation, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from campaigns.models import Campaign, Coupon, Redemption
from crm.models import Channel

# The columns the lists read; nothing else (no personal data, SPEC §9).
COUPON_COLUMNS = (
    "code",
    "status",
    "issued_at",
    "valid_from",
    "valid_until",
    "customer__customer_id",
    "campaign__code",
    "campaign__name",
    "template__code",
    "template__name",
    "grant__channel__code",
)
REDEMPTION_COLUMNS = (
    "order_id",
    "order_amount",
    "discount",
    "store",
    "city",
    "redeemed_at",
    "reversed_at",
    "customer__customer_id",
    "coupon__code",
    "coupon__campaign__code",
    "coupon__campaign__name",
    "coupon__grant__channel__code",
)

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class RedemptionTotals:
    """Totals of a set of redemptions: each order's amount counted once, however many of
    the set's coupons it used (SPEC §6 counts GMV per order)."""

    redemptions: int
    reversed: int
    orders: int
    order_amount: Decimal
    discount: Decimal


def coupons_for_list() -> QuerySet[Coupon]:
    """Every issued coupon, newest first, with its campaign, template, channel, customer id
    and `redeemed_at`: the moment of its live redemption, None when it has none.

    A coupon has at most one live redemption (the redemption_one_live_per_coupon
    constraint), so the join repeats no coupon.
    """
    return (
        Coupon.objects.select_related("campaign", "template", "grant__channel", "customer")
        .only(*COUPON_COLUMNS)
        .annotate(
            live_redemption=FilteredRelation(
                "redemptions", condition=Q(redemptions__reversed_at__isnull=True)
            ),
            redeemed_at=F("live_redemption__redeemed_at"),
        )
        .order_by("-issued_at", "-pk")
    )


def redemptions_for_list() -> QuerySet[Redemption]:
    """Every redemption, reversed ones too, newest first, with its coupon's code, campaign
    and channel (the channel of the grant that issued the coupon) and the customer id."""
    return (
        Redemption.objects.select_related("coupon__campaign", "coupon__grant__channel", "customer")
        .only(*REDEMPTION_COLUMNS)
        .order_by("-redeemed_at", "-pk")
    )


def redemption_totals(*, redemptions: QuerySet[Redemption]) -> RedemptionTotals:
    """Count, discount and order amount of `redemptions` (any filtered redemptions_for_list)
    in two aggregate queries; an order two of them used is counted once."""
    rows = redemptions.order_by()
    counts = rows.aggregate(
        redemptions=Count("pk"),
        reversed=Count("pk", filter=Q(reversed_at__isnull=False)),
        discount=Coalesce(Sum("discount"), Value(ZERO)),
    )
    # DISTINCT over (order, amount) in a subquery: one row per order.
    orders = (
        rows.values("order_id", "order_amount")
        .distinct()
        .aggregate(
            orders=Count("order_id"),
            order_amount=Coalesce(Sum("order_amount"), Value(ZERO)),
        )
    )
    return RedemptionTotals(
        redemptions=counts["redemptions"],
        reversed=counts["reversed"],
        orders=orders["orders"],
        order_amount=orders["order_amount"],
        discount=counts["discount"],
    )


def campaign_choices() -> list[tuple[str, str]]:
    """The campaigns that exist, as (code, "name (code)") pairs by name, for a filter."""
    return [
        (code, f"{name} ({code})")
        for code, name in Campaign.objects.order_by("name", "code").values_list("code", "name")
    ]


def channel_choices() -> list[tuple[str, str]]:
    """The channels that exist, as (code, name) pairs by code, for a filter."""
    return list(Channel.objects.order_by("code").values_list("code", "name"))
