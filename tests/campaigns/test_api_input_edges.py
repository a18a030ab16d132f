"""Edges of the campaigns API's input: optional fields left out take the model's defaults, and
a NUL byte anywhere (body, list item, code, path) is a 400 naming the field, or a 404 for a
path, never a 500; nothing is written."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Coupon, CouponEvent, CouponTemplate, Grant, Redemption
from campaigns.services.claims import claim_coupon
from crm.core.models import AuditEntry

pytestmark = pytest.mark.django_db

TEMPLATES = "/api/v1/coupon-templates/"
CAMPAIGNS = "/api/v1/campaigns/"
CLAIMS = "/api/v1/claims/"
REDEMPTIONS = "/api/v1/redemptions/"
NUL = "\x00"
DAY = timedelta(days=1)
NULL_CHARACTERS = "Null characters are not allowed."
CAMPAIGN_ACTIONS = ("schedule", "launch", "start", "pause", "resume", "finish", "cancel")


def written() -> tuple:
    return (
        CouponTemplate.objects.count(),
        Campaign.objects.count(),
        Grant.objects.count(),
        Coupon.objects.count(),
        Redemption.objects.count(),
        CouponEvent.objects.count(),
        AuditEntry.objects.count(),
    )


def template_payload(**overrides) -> dict:
    body = {
        "code": "ten-off-fifty",
        "name": "10 off 50",
        "kind": "cash",
        "face_value": "10.00",
        "valid_days": 7,
    }
    body.update(overrides)
    return body


def campaign_payload(segment, **overrides) -> dict:
    now = timezone.now().replace(microsecond=0)
    body = {
        "code": "summer-snacks",
        "name": "Summer snacks",
        "business_line": "snacks",
        "segment": segment.pk,
        "claim_starts_at": (now + timedelta(days=1)).isoformat(),
        "claim_ends_at": (now + timedelta(days=8)).isoformat(),
        "channels": ["app_push"],
        "trigger": "login",
        "stock": 500,
        "budget": "5000.00",
        "resources": [{"template": "t1", "quantity": 1}],
    }
    body.update(overrides)
    return body


# Optional fields left out -----------------------------------------------------------------


def test_template_without_threshold_takes_no_minimum(marketer_api):
    # when
    response = marketer_api.post(TEMPLATES, template_payload(), format="json")
    # then
    assert response.status_code == 201
    assert response.json()["threshold"] == "0.00"
    assert CouponTemplate.objects.get().threshold == Decimal("0.00")


def test_campaign_without_holdout_share_holds_nobody_out(
    make_template, shanghai, app_push, marketer_api
):
    # given
    make_template(code="t1")
    # when
    response = marketer_api.post(CAMPAIGNS, campaign_payload(shanghai), format="json")
    # then
    assert response.status_code == 201
    assert response.json()["holdout_share"] == "0.000"
    assert Campaign.objects.get().holdout_share == Decimal("0.000")


# NUL bytes in bodies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        pytest.param(
            {"channels": [f"app{NUL}push"]}, {"channels": [NULL_CHARACTERS]}, id="channel"
        ),
        pytest.param(
            {"resources": [{"template": f"t{NUL}1", "quantity": 1}]},
            {"resources": {"0": {"template": [NULL_CHARACTERS]}}},
            id="resource-template",
        ),
        pytest.param(
            {"cities": [f"Shang{NUL}hai"]}, {"cities": {"0": [NULL_CHARACTERS]}}, id="city"
        ),
        pytest.param({"name": f"Summer{NUL}"}, {"name": [NULL_CHARACTERS]}, id="name"),
    ],
)
def test_campaign_with_a_nul_byte_is_400_naming_the_field(
    make_template, shanghai, app_push, marketer_api, overrides, errors
):
    # given
    make_template(code="t1")
    before = written()
    # when
    response = marketer_api.post(CAMPAIGNS, campaign_payload(shanghai, **overrides), format="json")
    # then
    assert response.status_code == 400
    assert response.json() == errors
    assert written() == before


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        pytest.param({"name": f"ten{NUL}"}, {"name": [NULL_CHARACTERS]}, id="name"),
        pytest.param(
            {"categories": [f"nuts{NUL}"]}, {"categories": {"0": [NULL_CHARACTERS]}}, id="category"
        ),
    ],
)
def test_template_with_a_nul_byte_is_400_naming_the_field(marketer_api, overrides, errors):
    response = marketer_api.post(TEMPLATES, template_payload(**overrides), format="json")
    assert response.status_code == 400
    assert response.json() == errors
    assert written() == (0, 0, 0, 0, 0, 0, 0)


@pytest.mark.parametrize("field", ["campaign", "customer", "channel", "idempotency_key"])
def test_claim_with_a_nul_byte_is_400_naming_the_field(
    make_campaign, shopper, app_push, integration_api, field
):
    # given
    now = timezone.now()
    make_campaign(code="summer-snacks", claim_starts_at=now - DAY, claim_ends_at=now + 6 * DAY)
    body = {
        "campaign": "summer-snacks",
        "customer": "SH-1",
        "channel": "app_push",
        "trigger": "login",
        "idempotency_key": "k1",
    }
    body[field] = f"{body[field][:2]}{NUL}{body[field][2:]}"
    before = written()
    # when
    response = integration_api.post(CLAIMS, body, format="json")
    # then
    assert response.status_code == 400
    assert response.json() == {field: [NULL_CHARACTERS]}
    assert written() == before


@pytest.fixture
def coupon(make_campaign, shopper, app_push) -> Coupon:
    now = timezone.now()
    campaign = make_campaign(claim_starts_at=now - DAY, claim_ends_at=now + 6 * DAY)
    return claim_coupon(
        campaign=campaign.code,
        customer=shopper.customer_id,
        channel=app_push.code,
        trigger="login",
        idempotency_key="k1",
        now=now,
    ).coupons[0]


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        pytest.param({"customer": f"SH{NUL}-1"}, {"customer": [NULL_CHARACTERS]}, id="customer"),
        pytest.param({"code": "AB\x00CD"}, {"code": [NULL_CHARACTERS]}, id="code"),
        pytest.param({"order_id": f"O{NUL}1"}, {"order_id": [NULL_CHARACTERS]}, id="order"),
        pytest.param({"store": f"S{NUL}"}, {"store": [NULL_CHARACTERS]}, id="store"),
        pytest.param(
            {"items": [{"sku": f"N{NUL}1", "quantity": 1, "unit_price": "80.00"}]},
            {"items": {"0": {"sku": [NULL_CHARACTERS]}}},
            id="item-sku",
        ),
    ],
)
def test_redemption_with_a_nul_byte_is_400_naming_the_field(
    coupon, integration_api, overrides, errors
):
    # given
    body = {
        "code": coupon.code,
        "customer": "SH-1",
        "order_id": "O1",
        "amount": "80.00",
        "store": "S1",
        "city": "Shanghai",
    }
    body.update(overrides)
    before = written()
    # when
    response = integration_api.post(REDEMPTIONS, body, format="json")
    # then
    assert response.status_code == 400
    assert response.json() == errors
    assert written() == before
    coupon.refresh_from_db()
    assert coupon.status == "unused"


# NUL bytes in paths and query strings -----------------------------------------------------


def campaign_paths(code: str) -> list[tuple[str, str]]:
    return [
        ("get", f"{CAMPAIGNS}{code}/"),
        ("put", f"{CAMPAIGNS}{code}/"),
        ("patch", f"{CAMPAIGNS}{code}/"),
        ("delete", f"{CAMPAIGNS}{code}/"),
        *(("post", f"{CAMPAIGNS}{code}/{action}/") for action in CAMPAIGN_ACTIONS),
        ("get", f"{TEMPLATES}{code}/"),
        ("put", f"{TEMPLATES}{code}/"),
        ("patch", f"{TEMPLATES}{code}/"),
        ("delete", f"{TEMPLATES}{code}/"),
    ]


@pytest.mark.parametrize(
    ("method", "path"),
    campaign_paths("a%00b"),
    ids=lambda value: value.replace("%00", "NUL").strip("/").replace("/", "-"),
)
def test_a_nul_byte_in_a_path_code_is_404_like_an_unknown_code(
    make_campaign, marketer_api, method, path
):
    # given
    make_campaign(code="ab")
    before = written()
    what = "campaign" if path.startswith(CAMPAIGNS) else "coupon template"
    # when
    response = getattr(marketer_api, method)(path, {"name": "x"}, format="json")
    unknown = getattr(marketer_api, method)(path.replace("%00", "-"), {"name": "x"}, format="json")
    # then
    assert (response.status_code, unknown.status_code) == (404, 404)
    assert response.json() == unknown.json() == {"detail": f"No {what} with this code."}
    assert written() == before


@pytest.mark.parametrize(
    "path",
    [f"{CAMPAIGNS}?q=a%00", f"{CAMPAIGNS}?business_line=%00", f"{TEMPLATES}?q=%00"],
    ids=["campaign-search", "business-line", "template-search"],
)
def test_a_nul_byte_in_a_list_filter_is_400(make_campaign, analyst_api, path):
    make_campaign(code="ab")
    response = analyst_api.get(path)
    assert response.status_code == 400
    assert list(response.json().values()) == [[NULL_CHARACTERS]]
