"""Redemption: owner, validity, threshold, restrictions, idempotency, refund, expiry."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from campaigns.exceptions import RedemptionRefused
from campaigns.models import Coupon, CouponEvent, Redemption
from campaigns.operator_time import operator_time
from campaigns.services.claims import claim_coupon
from campaigns.services.expiry import expire_coupons
from campaigns.services.redemptions import (
    OrderLine,
    redeem_coupon,
    restore_coupons_on_refund,
    reverse_redemptions_of_refunded_orders,
)
from crm.models import PointsEntry
from crm.services.imports.runs import ingest_records
from crm.services.points import adjust_points
from tests.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db

NUTS = OrderLine(sku="N1", category="nuts", quantity=2, unit_price=Decimal("30.00"))
TEA = OrderLine(sku="T1", category="tea", quantity=1, unit_price=Decimal("20.00"))


@pytest.fixture
def grant_coupon(make_campaign, make_template, shopper, app_push, as_of):
    def grant(**template_fields) -> Coupon:
        campaign = make_campaign(template=make_template(**template_fields))
        return claim_coupon(
            campaign=campaign.code,
            customer=shopper.customer_id,
            channel=app_push.code,
            trigger="login",
            idempotency_key="k",
            now=as_of,
        ).coupons[0]

    return grant


def redeem(
    coupon,
    customer,
    now,
    *,
    order_id="O1",
    amount="80.00",
    items=(NUTS, TEA),
    store="S1",
    city="Shanghai",
):
    return redeem_coupon(
        code=coupon.code,
        customer=customer,
        order_id=order_id,
        amount=Decimal(amount),
        items=list(items),
        store=store,
        city=city,
        now=now,
    )


def assert_refused(reason, coupon, customer, now, **kwargs) -> str:
    with pytest.raises(RedemptionRefused) as refusal:
        redeem(coupon, customer, now, **kwargs)
    assert refusal.value.reason == reason
    coupon.refresh_from_db()
    assert coupon.status == "unused"
    assert Redemption.objects.count() == 0
    return refusal.value.detail


def test_cash_coupon_takes_its_face_value(grant_coupon, shopper, as_of):
    # given
    coupon = grant_coupon()
    # when
    result = redeem(coupon, shopper, as_of + timedelta(hours=1))
    # then
    coupon.refresh_from_db()
    assert (result.created, result.redemption.discount, coupon.status) == (
        True,
        Decimal("10.00"),
        "redeemed",
    )
    event = CouponEvent.objects.get(kind="redemption")
    assert (event.channel_code, event.reason, event.amount) == ("app_push", "O1", Decimal("10.00"))


def test_percent_coupon_is_capped(grant_coupon, shopper, as_of):
    coupon = grant_coupon(
        kind="percent", face_value=Decimal("20"), max_discount=Decimal("12"), threshold=0
    )
    # 20% of 80.00 = 16.00, capped at 12.00
    assert redeem(coupon, shopper, as_of).redemption.discount == Decimal("12.00")


def test_same_order_again_is_idempotent(grant_coupon, shopper, as_of):
    coupon = grant_coupon()
    first = redeem(coupon, shopper, as_of)
    again = redeem(coupon, shopper, as_of + timedelta(minutes=5))
    assert (again.created, again.redemption.pk) == (False, first.redemption.pk)
    assert Redemption.objects.count() == 1


def test_refuses_unknown_code(shopper, as_of):
    with pytest.raises(RedemptionRefused) as refusal:
        redeem_coupon(
            code="NOPE",
            customer=shopper,
            order_id="O1",
            amount=Decimal(80),
            items=[],
            store="",
            city="",
            now=as_of,
        )
    assert (refusal.value.reason, refusal.value.detail) == ("unknown_code", "no coupon 'NOPE'")


def test_refuses_another_customers_coupon(grant_coupon, as_of):
    coupon = grant_coupon()
    stranger = CustomerFactory(city="Shanghai")
    assert_refused("wrong_customer", coupon, stranger, as_of)


def test_refuses_coupon_used_on_another_order(grant_coupon, shopper, as_of):
    coupon = grant_coupon()
    redeem(coupon, shopper, as_of, order_id="O1")
    with pytest.raises(RedemptionRefused) as refusal:
        redeem(coupon, shopper, as_of, order_id="O2")
    assert refusal.value.detail == f"coupon {coupon.code} was redeemed on order O1"


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        pytest.param(timedelta(0), None, id="at-claim-valid"),
        pytest.param(timedelta(days=7) - timedelta(seconds=1), None, id="last-second-valid"),
        pytest.param(timedelta(days=7), "expired", id="at-valid-until-expired"),
    ],
)
def test_relative_validity_edges(grant_coupon, shopper, as_of, offset, expected):
    coupon = grant_coupon(valid_days=7)
    if expected is None:
        assert redeem(coupon, shopper, as_of + offset).created is True
    else:
        assert_refused(expected, coupon, shopper, as_of + offset)


def test_fixed_validity_edges(grant_coupon, shopper, as_of):
    # given: a fixed window starting a day after the claim
    starts = as_of + timedelta(days=1)
    ends = as_of + timedelta(days=3)
    coupon = grant_coupon(valid_days=None, valid_from=starts, valid_until=ends)
    assert (coupon.valid_from, coupon.valid_until) == (starts, ends)
    # when / then
    detail = assert_refused("not_yet_valid", coupon, shopper, starts - timedelta(seconds=1))
    assert detail == f"coupon {coupon.code} is valid from {operator_time(starts)}"
    assert_refused("expired", coupon, shopper, ends)
    assert redeem(coupon, shopper, starts).created is True


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        pytest.param("49.99", "threshold_not_met", id="below"),
        pytest.param("50.00", None, id="at-threshold"),
    ],
)
def test_threshold_boundary(grant_coupon, shopper, as_of, amount, expected):
    coupon = grant_coupon(threshold=Decimal("50.00"))
    if expected is None:
        assert redeem(coupon, shopper, as_of, amount=amount, items=()).created is True
    else:
        detail = assert_refused(expected, coupon, shopper, as_of, amount=amount, items=())
        assert detail == f"eligible amount {amount} is below the threshold 50.00"


def test_category_restriction_counts_only_matching_items(grant_coupon, shopper, as_of):
    # given: tea only, threshold 50; the order has 20.00 of tea in 80.00
    coupon = grant_coupon(categories=["tea"], threshold=Decimal("50"))
    # when / then
    detail = assert_refused("threshold_not_met", coupon, shopper, as_of)
    assert detail == "eligible amount 20.00 is below the threshold 50.00"


@pytest.mark.parametrize(
    ("restriction", "order", "detail"),
    [
        ({"categories": ["jerky"]}, {}, "no item of the order is in jerky"),
        ({"skus": ["X9"]}, {}, "no item of the order is in X9"),
        ({"stores": ["S7"]}, {}, "store 'S1' is not one of S7"),
        ({"cities": ["Beijing"]}, {}, "city 'Shanghai' is not one of Beijing"),
    ],
    ids=["category", "sku", "store", "city"],
)
def test_each_restriction(grant_coupon, shopper, as_of, restriction, order, detail):
    coupon = grant_coupon(threshold=0, **restriction)
    assert assert_refused("restriction_mismatch", coupon, shopper, as_of, **order) == detail


def test_matching_restrictions_are_accepted(grant_coupon, shopper, as_of):
    coupon = grant_coupon(
        threshold=0, categories=["nuts"], skus=["N1"], stores=["S1"], cities=["Shanghai"]
    )
    assert redeem(coupon, shopper, as_of).redemption.discount == Decimal("10.00")


def test_refund_restores_a_still_valid_coupon(grant_coupon, shopper, as_of):
    # given
    coupon = grant_coupon()
    redeem(coupon, shopper, as_of)
    # when
    restored = restore_coupons_on_refund(order_id="O1", now=as_of + timedelta(days=1))
    again = restore_coupons_on_refund(order_id="O1", now=as_of + timedelta(days=1))
    # then
    coupon.refresh_from_db()
    assert (restored, again, coupon.status) == (1, 0, "unused")
    assert redeem(coupon, shopper, as_of + timedelta(days=2), order_id="O2").created is True


def test_an_order_imported_as_refunded_reverses_its_redemption_and_restores_the_coupon(
    grant_coupon, shopper, as_of
):
    # given a coupon redeemed on order O1, and another redemption on an order still paid
    coupon = grant_coupon()
    redeem(coupon, shopper, as_of)
    other = grant_coupon()
    redeem(other, shopper, as_of, order_id="O7")
    placed_at = as_of - timedelta(hours=1)
    OrderFactory(order_id="O1", customer=shopper, placed_at=placed_at, amount=Decimal("80.00"))
    OrderFactory(order_id="O7", customer=shopper, placed_at=placed_at, amount=Decimal("80.00"))

    # when the order comes back refunded through the bulk ingest, and the reconciler runs
    ingest_records(
        kind="orders",
        items=[
            {
                "order_id": "O1",
                "customer_id": shopper.customer_id,
                "placed_at": placed_at.isoformat(),
                "amount": "80.00",
                "status": "refunded",
            }
        ],
        now=as_of + timedelta(days=1),
    )
    reversed_count = reverse_redemptions_of_refunded_orders(now=as_of + timedelta(days=1))
    again = reverse_redemptions_of_refunded_orders(now=as_of + timedelta(days=1))

    # then only O1's redemption is reversed, once, and its coupon can be used again
    coupon.refresh_from_db()
    other.refresh_from_db()
    assert (reversed_count, again) == (1, 0)
    assert (coupon.status, other.status) == ("unused", "redeemed")
    assert list(
        Redemption.objects.filter(reversed_at__isnull=False).values_list("order_id", flat=True)
    ) == ["O1"]


def test_a_coupon_restored_by_a_refunded_order_is_redeemed_again_on_that_order(
    grant_coupon, shopper, as_of
):
    # given: redeemed on O1, then O1 comes back refunded and the reconciler restores it
    coupon = grant_coupon()
    first = redeem(coupon, shopper, as_of)
    OrderFactory(order_id="O1", customer=shopper, placed_at=as_of, status="refunded")
    assert reverse_redemptions_of_refunded_orders(now=as_of + timedelta(hours=1)) == 1
    # when: the same order is redeemed again (the shop re-bills it), twice
    again = redeem(coupon, shopper, as_of + timedelta(hours=2))
    retry = redeem(coupon, shopper, as_of + timedelta(hours=3))
    # then: one new live redemption, the retry answering with it
    coupon.refresh_from_db()
    assert (again.created, retry.created, retry.redemption.pk) == (True, False, again.redemption.pk)
    assert again.redemption.pk != first.redemption.pk
    assert coupon.status == "redeemed"
    assert Redemption.objects.filter(reversed_at__isnull=True).get().pk == again.redemption.pk


@pytest.mark.parametrize("amount", ["0.00", "-1.00"])
def test_refuses_an_order_amount_not_above_0(grant_coupon, shopper, as_of, amount):
    # given
    coupon = grant_coupon(threshold=0)
    # when
    with pytest.raises(ValidationError) as error:
        redeem(coupon, shopper, as_of, amount=amount)
    # then
    assert error.value.message_dict == {"amount": ["The order amount must be above 0."]}
    coupon.refresh_from_db()
    assert (coupon.status, Redemption.objects.count()) == ("unused", 0)


def test_refund_after_validity_marks_the_coupon_expired(grant_coupon, shopper, as_of):
    coupon = grant_coupon()
    redeem(coupon, shopper, as_of)
    restore_coupons_on_refund(order_id="O1", now=as_of + timedelta(days=8))
    coupon.refresh_from_db()
    assert coupon.status == "expired"


def test_expiry_task_marks_only_coupons_past_validity(
    grant_coupon, make_campaign, shopper, app_push, as_of
):
    # given: one coupon valid 7 days, one valid 30 days
    short = grant_coupon(valid_days=7)
    long_lived = grant_coupon(valid_days=30)
    # when
    at = as_of + timedelta(days=7)
    expired = expire_coupons(as_of=at)
    rerun = expire_coupons(as_of=at)
    # then
    short.refresh_from_db()
    long_lived.refresh_from_db()
    assert (expired, rerun, short.status, long_lived.status) == (1, 0, "expired", "unused")
    assert list(
        CouponEvent.objects.filter(kind="expiry").values_list("coupon_id", "channel_code")
    ) == [(short.pk, "app_push")]


def test_points_coupon_credits_the_customer(grant_coupon, shopper, as_of):
    coupon = grant_coupon(kind="points", face_value=Decimal("200"), threshold=0)
    result = redeem(coupon, shopper, as_of)
    shopper.refresh_from_db()
    assert (result.redemption.discount, shopper.points) == (Decimal("0.00"), 200)


def test_a_points_coupon_and_its_refund_are_points_ledger_rows(grant_coupon, shopper, as_of):
    # given a redeemed 200-points coupon, 150 of whose points the customer then spent
    coupon = grant_coupon(kind="points", face_value=Decimal("200"), threshold=0)
    redeem(coupon, shopper, as_of, order_id="O9")
    adjust_points(customer=shopper, change=-150, note="spent", actor=None, now=as_of)

    # when the order is refunded
    restore_coupons_on_refund(order_id="O9", now=as_of + timedelta(hours=1))

    # then the refund took back what was left (50), never below 0, and each change is a row
    shopper.refresh_from_db()
    assert shopper.points == 0
    assert list(
        PointsEntry.objects.filter(customer=shopper)
        .order_by("id")
        .values_list("change", "balance", "reason", "reference", "at")
    ) == [
        (200, 200, "coupon_redeemed", f"coupon {coupon.code}", as_of),
        (-150, 50, "adjustment", "staff: spent", as_of),
        (
            -50,
            0,
            "redemption_reversed",
            f"coupon {coupon.code}, order O9",
            as_of + timedelta(hours=1),
        ),
    ]
