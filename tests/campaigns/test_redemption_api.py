"""POST /api/v1/redemptions/: 201 with the discount, 200 replay, 409 reasons, 400, roles."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import Coupon, CouponEvent, Redemption
from campaigns.services.claims import claim_coupon
from campaigns.services.redemptions import restore_coupons_on_refund
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

REDEMPTIONS = "/api/v1/redemptions/"


@pytest.fixture
def coupon(make_campaign, make_template, shopper, app_push) -> Coupon:
    """A 10-off-50 coupon of SH-1, valid for 7 days from the real clock's now."""
    now = timezone.now()
    campaign = make_campaign(
        template=make_template(code="ten-off-fifty", categories=["nuts"]),
        claim_starts_at=now - timedelta(days=1),
        claim_ends_at=now + timedelta(days=6),
    )
    result = claim_coupon(
        campaign=campaign.code,
        customer=shopper.customer_id,
        channel=app_push.code,
        trigger="login",
        idempotency_key="k1",
        now=now,
    )
    return result.coupons[0]


def payload(coupon: Coupon, **overrides) -> dict:
    body = {
        "code": coupon.code,
        "customer": "SH-1",
        "order_id": "O1001",
        "amount": "88.00",
        "items": [
            {"sku": "NUT-01", "category": "nuts", "quantity": 2, "unit_price": "30.00"},
            {"sku": "TEA-01", "category": "tea", "quantity": 1, "unit_price": "28.00"},
        ],
        "store": "SH-01",
        "city": "Shanghai",
    }
    body.update(overrides)
    return body


def state(coupon: Coupon) -> tuple:
    coupon.refresh_from_db()
    return (coupon.status, Redemption.objects.count(), CouponEvent.objects.count())


def test_redemption_returns_the_discount_with_201(coupon, integration_api):
    # when
    response = integration_api.post(REDEMPTIONS, payload(coupon), format="json")
    # then
    assert response.status_code == 201
    assert response.json() == {
        "code": coupon.code,
        "customer": "SH-1",
        "order_id": "O1001",
        "amount": "88.00",
        "discount": "10.00",
        "store": "SH-01",
        "city": "Shanghai",
    }
    redemption = Redemption.objects.get()
    assert (redemption.order_amount, redemption.discount) == (Decimal("88.00"), Decimal("10.00"))
    assert state(coupon)[:2] == ("redeemed", 1)


def test_same_code_and_order_again_is_200_with_the_same_redemption(coupon, integration_api):
    # given
    first = integration_api.post(REDEMPTIONS, payload(coupon), format="json")
    before = state(coupon)
    # when
    again = integration_api.post(REDEMPTIONS, payload(coupon), format="json")
    # then
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert state(coupon) == before


@pytest.mark.parametrize("amount", ["0.00", "0", "-5.00"])
def test_order_amount_not_above_0_is_400_and_the_coupon_stays_unused(
    coupon, integration_api, amount
):
    # given: a coupon without a threshold would take a 0.00 discount on a 0.00 order
    Coupon.objects.filter(pk=coupon.pk).update(threshold=0)
    before = state(coupon)
    # when
    items = [{"sku": "NUT-01", "category": "nuts", "quantity": 1, "unit_price": "0.00"}]
    response = integration_api.post(
        REDEMPTIONS, payload(coupon, amount=amount, items=items), format="json"
    )
    # then
    assert response.status_code == 400
    assert response.json() == {"amount": ["The order amount must be above 0."]}
    assert state(coupon) == before == ("unused", 0, 1)


def test_a_coupon_a_refund_restored_is_redeemed_again_on_the_same_order(coupon, integration_api):
    # given: redeemed on O1001, then the order refunded (the coupon is unused again)
    first = integration_api.post(REDEMPTIONS, payload(coupon), format="json")
    assert first.status_code == 201
    restore_coupons_on_refund(order_id="O1001", now=timezone.now())
    # when: the shop redeems it on the same order again, and retries that
    again = integration_api.post(REDEMPTIONS, payload(coupon), format="json")
    retry = integration_api.post(REDEMPTIONS, payload(coupon), format="json")
    # then: a new redemption, and the retry answers with it
    assert (again.status_code, retry.status_code) == (201, 200)
    assert again.json() == retry.json() == first.json()
    assert [
        (redemption.order_id, redemption.reversed_at is None)
        for redemption in Redemption.objects.order_by("pk")
    ] == [("O1001", False), ("O1001", True)]
    assert state(coupon)[:2] == ("redeemed", 2)


def test_code_on_another_order_is_409_already_redeemed(coupon, integration_api):
    # given
    integration_api.post(REDEMPTIONS, payload(coupon), format="json")
    before = state(coupon)
    # when
    response = integration_api.post(REDEMPTIONS, payload(coupon, order_id="O1002"), format="json")
    # then
    assert response.status_code == 409
    assert response.json() == {
        "reason": "already_redeemed",
        "detail": f"coupon {coupon.code} was redeemed on order O1001",
    }
    assert state(coupon) == before


@pytest.mark.parametrize(
    ("overrides", "reason", "detail"),
    [
        pytest.param(
            {"code": "NOSUCHCODE00"},
            "unknown_code",
            "no coupon 'NOSUCHCODE00'",
            id="unknown-code",
        ),
        pytest.param(
            {
                "amount": "40.00",
                "items": [
                    {"sku": "NUT-01", "category": "nuts", "quantity": 1, "unit_price": "40.00"}
                ],
            },
            "threshold_not_met",
            "eligible amount 40.00 is below the threshold 50.00",
            id="below-threshold",
        ),
        pytest.param(
            {"items": [{"sku": "TEA-01", "category": "tea", "quantity": 2, "unit_price": "44.00"}]},
            "restriction_mismatch",
            "no item of the order is in nuts",
            id="no-nuts-in-the-order",
        ),
    ],
)
def test_refused_redemption_is_409_and_changes_nothing(
    coupon, integration_api, overrides, reason, detail
):
    # given
    before = state(coupon)
    # when
    response = integration_api.post(REDEMPTIONS, payload(coupon, **overrides), format="json")
    # then
    assert response.status_code == 409
    assert response.json() == {"reason": reason, "detail": detail}
    assert state(coupon) == before == ("unused", 0, 1)


def test_coupon_of_another_customer_is_409_wrong_customer(coupon, integration_api):
    # given
    CustomerFactory(customer_id="SH-2", city="Shanghai")
    before = state(coupon)
    # when
    response = integration_api.post(REDEMPTIONS, payload(coupon, customer="SH-2"), format="json")
    # then
    assert response.status_code == 409
    assert response.json() == {
        "reason": "wrong_customer",
        "detail": f"coupon {coupon.code} belongs to another customer",
    }
    assert state(coupon) == before


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        pytest.param(
            {"customer": "C-404"},
            {"customer": ["No customer with customer_id C-404."]},
            id="unknown-customer",
        ),
        pytest.param(
            {"amount": "lots"}, {"amount": ["A valid number is required."]}, id="bad-amount"
        ),
        pytest.param(
            {"items": [{"sku": "NUT-01", "quantity": 0, "unit_price": "1.00"}]},
            # DRF names the item by its position in the list.
            {"items": {"0": {"quantity": ["Ensure this value is greater than or equal to 1."]}}},
            id="zero-quantity",
        ),
    ],
)
def test_invalid_input_is_400_naming_the_field(coupon, integration_api, overrides, errors):
    # given
    before = state(coupon)
    # when
    response = integration_api.post(REDEMPTIONS, payload(coupon, **overrides), format="json")
    # then
    assert response.status_code == 400
    assert response.json() == errors
    assert state(coupon) == before


def test_analyst_may_not_redeem(coupon, analyst_api):
    before = state(coupon)
    response = analyst_api.post(REDEMPTIONS, payload(coupon), format="json")
    assert response.status_code == 403
    assert state(coupon) == before
