"""POST /api/v1/claims/: the SPEC §5 contract, exactly (201, 200 replay, 409, 400, roles)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Coupon, CouponEvent, Grant
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

CLAIMS = "/api/v1/claims/"


def iso(moment) -> str:
    """A moment as the API writes it: ISO 8601 in the operator's time zone."""
    return timezone.localtime(moment).isoformat()


@pytest.fixture
def live_campaign(make_campaign):
    """A running campaign whose window is open on the real clock (the view reads it)."""

    def make(**overrides) -> Campaign:
        now = timezone.now()
        values = {
            "code": "summer-snacks",
            "claim_starts_at": now - timedelta(days=1),
            "claim_ends_at": now + timedelta(days=6),
        }
        values.update(overrides)
        return make_campaign(**values)

    return make


def payload(**overrides) -> dict:
    body = {
        "campaign": "summer-snacks",
        "customer": "SH-1",
        "channel": "app_push",
        "trigger": "login",
        "idempotency_key": "login-SH-1-1",
    }
    body.update(overrides)
    return body


def state() -> tuple:
    campaign = Campaign.objects.get(code="summer-snacks")
    return (campaign.issued_count, campaign.spent, Grant.objects.count(), Coupon.objects.count())


def coupon_json(coupon: Coupon) -> dict:
    return {
        "code": coupon.code,
        "template": coupon.template.code,
        "kind": "cash",
        "face_value": "10.00",
        "max_discount": None,
        "threshold": "50.00",
        "valid_from": iso(coupon.valid_from),
        "valid_until": iso(coupon.valid_until),
        "status": "unused",
    }


def test_claim_grants_the_coupon_with_201(live_campaign, shopper, app_push, integration_api):
    # given
    live_campaign()
    # when
    response = integration_api.post(CLAIMS, payload(), format="json")
    # then
    assert response.status_code == 201
    coupon = Coupon.objects.get()
    assert coupon.valid_until - coupon.valid_from == timedelta(days=7)
    assert response.json() == {
        "code": coupon.code,
        "kind": "cash",
        "face_value": "10.00",
        "threshold": "50.00",
        "valid_from": iso(coupon.valid_from),
        "valid_until": iso(coupon.valid_until),
        "campaign": "summer-snacks",
        "customer": "SH-1",
        "channel": "app_push",
        "trigger": "login",
        "granted_at": iso(coupon.issued_at),
        "coupons": [coupon_json(coupon)],
    }
    assert state() == (1, Decimal("10.00"), 1, 1)


def test_same_idempotency_key_returns_the_same_coupon_with_200(
    live_campaign, shopper, app_push, integration_api
):
    # given
    live_campaign(limit_per_customer=5, daily_limit_per_customer=5)
    first = integration_api.post(CLAIMS, payload(), format="json")
    # when
    again = integration_api.post(CLAIMS, payload(), format="json")
    # then
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert state() == (1, Decimal("10.00"), 1, 1)


def test_grant_of_several_coupons_lists_them_all(
    live_campaign, make_template, shopper, app_push, integration_api
):
    # given: one grant hands out two 10-off coupons
    live_campaign(quantity=2)
    # when
    response = integration_api.post(CLAIMS, payload(), format="json")
    # then
    assert response.status_code == 201
    coupons = list(Coupon.objects.order_by("pk"))
    body = response.json()
    assert body["code"] == coupons[0].code
    assert body["coupons"] == [coupon_json(coupon) for coupon in coupons]
    assert state() == (2, Decimal("20.00"), 1, 2)


@pytest.mark.parametrize(
    ("campaign_overrides", "customer_city", "reason", "detail"),
    [
        pytest.param(
            {"status": "paused"},
            "Shanghai",
            "not_running",
            "campaign summer-snacks is paused",
            id="paused",
        ),
        pytest.param(
            {"cities": ["Hangzhou"]},
            "Shanghai",
            "out_of_scope",
            "city 'Shanghai' is not in the campaign's cities Hangzhou",
            id="city-out-of-scope",
        ),
        pytest.param(
            {},
            "Beijing",
            "not_in_audience",
            "customer SH-1 is not in segment 'Shanghai'",
            id="not-in-segment",
        ),
        pytest.param(
            {"stock": 0},
            "Shanghai",
            "out_of_stock",
            "0 coupons left, a grant needs 1",
            id="no-stock",
        ),
    ],
)
def test_business_refusal_is_409_with_reason_and_changes_nothing(
    live_campaign, app_push, integration_api, campaign_overrides, customer_city, reason, detail
):
    # given
    live_campaign(**campaign_overrides)
    CustomerFactory(customer_id="SH-1", city=customer_city)
    # when
    response = integration_api.post(CLAIMS, payload(), format="json")
    # then
    assert response.status_code == 409
    assert response.json() == {"reason": reason, "detail": detail}
    assert state() == (0, Decimal("0.00"), 0, 0)
    refusal = CouponEvent.objects.get()
    assert (refusal.kind, refusal.reason, refusal.channel_code) == ("refusal", reason, "app_push")


def test_second_claim_on_the_same_day_is_refused_by_the_daily_limit(
    live_campaign, shopper, app_push, integration_api
):
    # given
    live_campaign(limit_per_customer=3, daily_limit_per_customer=1)
    integration_api.post(CLAIMS, payload(), format="json")
    # when
    response = integration_api.post(CLAIMS, payload(idempotency_key="login-SH-1-2"), format="json")
    # then
    assert response.status_code == 409
    assert response.json() == {"reason": "daily_limit", "detail": "1 of 1 grants today already"}
    assert state() == (1, Decimal("10.00"), 1, 1)


def test_idempotency_key_reused_with_another_payload_is_409(
    live_campaign, shopper, app_push, integration_api
):
    # given
    live_campaign(limit_per_customer=5, daily_limit_per_customer=5)
    integration_api.post(CLAIMS, payload(), format="json")
    # when: the same key, another trigger
    response = integration_api.post(CLAIMS, payload(trigger="share"), format="json")
    # then
    assert response.status_code == 409
    assert response.json() == {
        "reason": "idempotency_key_reused",
        "detail": "idempotency_key 'login-SH-1-1' was used for another claim "
        "(different customer, channel or trigger)",
    }
    assert state() == (1, Decimal("10.00"), 1, 1)


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        pytest.param(
            {"campaign": "nope"},
            {"campaign": ["No campaign with code nope."]},
            id="unknown-campaign",
        ),
        pytest.param(
            {"customer": "C-404"},
            {"customer": ["No customer with customer_id C-404."]},
            id="unknown-customer",
        ),
        pytest.param(
            {"channel": "carrier_pigeon"},
            {"channel": ["No channel with code carrier_pigeon."]},
            id="unknown-channel",
        ),
        pytest.param(
            {"trigger": "whenever"},
            {"trigger": ['"whenever" is not a valid choice.']},
            id="invalid-trigger",
        ),
        pytest.param(
            {"idempotency_key": ""},
            {"idempotency_key": ["This field may not be blank."]},
            id="blank-key",
        ),
    ],
)
def test_unknown_codes_and_invalid_fields_are_400_naming_the_field(
    live_campaign, shopper, app_push, integration_api, overrides, errors
):
    # given
    live_campaign()
    # when
    response = integration_api.post(CLAIMS, payload(**overrides), format="json")
    # then
    assert response.status_code == 400
    assert response.json() == errors
    assert state() == (0, Decimal("0.00"), 0, 0)
    assert CouponEvent.objects.count() == 0


def test_missing_fields_are_400_each_named(integration_api):
    response = integration_api.post(CLAIMS, {}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        name: ["This field is required."]
        for name in ("campaign", "customer", "channel", "trigger", "idempotency_key")
    }


def test_marketer_may_claim_too(live_campaign, shopper, app_push, marketer_api):
    live_campaign()
    response = marketer_api.post(CLAIMS, payload(), format="json")
    assert response.status_code == 201


def test_analyst_may_not_claim(live_campaign, shopper, app_push, analyst_api):
    # given
    live_campaign()
    # when
    response = analyst_api.post(CLAIMS, payload(), format="json")
    # then
    assert response.status_code == 403
    assert state() == (0, Decimal("0.00"), 0, 0)


def test_anonymous_claim_is_401(live_campaign, shopper, app_push, client):
    live_campaign()
    response = client.post(CLAIMS, payload(), content_type="application/json")
    assert response.status_code == 401
    assert state() == (0, Decimal("0.00"), 0, 0)
