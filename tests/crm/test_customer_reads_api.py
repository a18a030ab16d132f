"""Customer reads for support tools and the shop (SPEC §5, §7, §9):
GET /api/v1/customers/{customer_id}/ and GET /api/v1/customers/{customer_id}/coupons/."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from rest_framework.test import APIClient

from crm.models import Customer, Tag
from tests.conftest import make_user, token_client
from tests.crm.conftest import claim
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(moment: datetime) -> str:
    """A moment as the API writes it: ISO 8601 in the operator's zone (Asia/Shanghai)."""
    return moment.astimezone(SHANGHAI).isoformat()


@pytest.fixture
def profiled(db) -> Customer:
    customer = CustomerFactory(
        customer_id="C42",
        name="Dora Chen",
        phone="13912345678",
        email="dora@example.com",
        gender="female",
        birth_date=datetime(1990, 5, 4).date(),  # noqa: DTZ001 - a calendar date
        city="Shanghai",
        region="East",
        occupation="teacher",
        is_member=True,
        member_tier="gold",
        points=1200,
        registered_at=datetime(2024, 3, 1, 1, 30, tzinfo=ZoneInfo("UTC")),
        acquisition_channel="mini_program",
        consent={"sms": True, "app_push": False},
        first_order_at=datetime(2024, 3, 2, 12, 15, tzinfo=ZoneInfo("UTC")),
        last_order_at=datetime(2026, 6, 20, 11, 40, tzinfo=ZoneInfo("UTC")),
        order_count=14,
        total_spent=Decimal("2350.00"),
        avg_order_value=Decimal("167.86"),
        is_returning=True,
        value_tier="high",
        lifecycle_stage="mature",
        preferred_category="nuts",
        promotion_sensitivity=Decimal("0.2857"),
        preferred_channel="app",
        weekend_buyer=True,
        usual_daypart="evening",
        rfm_recency=5,
        rfm_frequency=4,
        rfm_monetary=5,
        rfm_group="champions",
    )
    customer.tags.add(Tag.objects.create(name="vip"), Tag.objects.create(name="tea"))
    return customer


def expected_profile(customer: Customer, *, phone: str, email: str) -> dict:
    return {
        "customer_id": "C42",
        "name": "Dora Chen",
        "phone": phone,
        "email": email,
        "gender": "female",
        "birth_date": "1990-05-04",
        "city": "Shanghai",
        "region": "East",
        "occupation": "teacher",
        "is_member": True,
        "member_tier": "gold",
        "points": 1200,
        "registered_at": "2024-03-01T09:30:00+08:00",
        "acquisition_channel": "mini_program",
        "consent": {"sms": True, "app_push": False},
        "tags": ["tea", "vip"],
        "is_placeholder": False,
        "pii_erased_at": None,
        "first_order_at": "2024-03-02T20:15:00+08:00",
        "last_order_at": "2026-06-20T19:40:00+08:00",
        "order_count": 14,
        "total_spent": "2350.00",
        "avg_order_value": "167.86",
        "is_returning": True,
        "value_tier": "high",
        "lifecycle_stage": "mature",
        "preferred_category": "nuts",
        "promotion_sensitivity": "0.2857",
        "preferred_channel": "app",
        "weekend_buyer": True,
        "usual_daypart": "evening",
        "rfm_recency": 5,
        "rfm_frequency": 4,
        "rfm_monetary": 5,
        "rfm_group": "champions",
        "created_at": local(customer.created_at),
        "updated_at": local(customer.updated_at),
    }


# The profile --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["integration", "marketer", "analyst"])
def test_roles_without_the_pii_permission_read_the_profile_with_contact_masked(profiled, role):
    # when
    response = token_client(make_user(role)).get("/api/v1/customers/C42/")

    # then
    assert response.status_code == 200
    assert response.json() == expected_profile(
        profiled, phone="139****5678", email="d***@example.com"
    )


def test_support_reads_the_profile_with_phone_and_email_unmasked(profiled):
    # given: support staff hold crm.view_customer_pii
    support = make_user("support")
    assert support.has_perm("crm.view_customer_pii")

    # when
    response = token_client(support).get("/api/v1/customers/C42/")

    # then
    assert response.status_code == 200
    assert response.json() == expected_profile(
        profiled, phone="13912345678", email="dora@example.com"
    )


def test_a_customer_without_purchases_reads_unknown_labels_as_null(db):
    # given: a placeholder known from an order reference only
    CustomerFactory(customer_id="P-1", name="", is_placeholder=True, city="")

    # when
    response = token_client(make_user("integration")).get("/api/v1/customers/P-1/")

    # then
    body = response.json()
    assert response.status_code == 200
    assert {key: body[key] for key in _UNSET_LABELS} == _UNSET_LABELS


_UNSET_LABELS = {
    "phone": "",
    "email": "",
    "gender": "",
    "birth_date": None,
    "tags": [],
    "consent": {},
    "is_placeholder": True,
    "first_order_at": None,
    "last_order_at": None,
    "order_count": 0,
    "total_spent": "0.00",
    "avg_order_value": None,
    "value_tier": "none",
    "lifecycle_stage": "potential",
    "promotion_sensitivity": None,
    "weekend_buyer": None,
    "usual_daypart": None,
    "rfm_recency": None,
    "rfm_frequency": None,
    "rfm_monetary": None,
    "rfm_group": None,
}


@pytest.mark.parametrize(
    "customer_id",
    ["C.1", "bulky", "客户 7", "a+b@c"],
    ids=["dot", "bulk-prefix", "unicode", "symbols"],
)
def test_any_customer_id_without_a_slash_is_readable(db, customer_id):
    # given
    CustomerFactory(customer_id=customer_id)

    # when
    response = token_client(make_user("integration")).get(f"/api/v1/customers/{customer_id}/")

    # then
    assert (response.status_code, response.json()["customer_id"]) == (200, customer_id)


@pytest.mark.parametrize(
    "path",
    ["/api/v1/customers/NOPE/", "/api/v1/customers/NOPE/coupons/"],
    ids=["profile", "coupons"],
)
def test_an_unknown_customer_is_404_json(profiled, path):
    # when
    response = token_client(make_user("integration")).get(path)

    # then
    assert (response.status_code, response.json()) == (404, {"detail": "No customer with this id."})


@pytest.mark.parametrize(
    "path",
    ["/api/v1/customers/C42%00/", "/api/v1/customers/%00/coupons/"],
    ids=["profile", "coupons"],
)
def test_a_customer_id_with_a_nul_character_is_404_json(profiled, path):
    # when
    response = token_client(make_user("integration")).get(path)

    # then
    assert (response.status_code, response.json()) == (404, {"detail": "No customer with this id."})


@pytest.mark.parametrize(
    "path", ["/api/v1/customers/C42/", "/api/v1/customers/C42/coupons/"], ids=["profile", "coupons"]
)
def test_anonymous_callers_are_refused(profiled, path):
    # when
    response = APIClient().get(path)

    # then
    assert response.status_code == 401
    assert "customer_id" not in response.json()


@pytest.mark.parametrize(
    "path", ["/api/v1/customers/C42/", "/api/v1/customers/C42/coupons/"], ids=["profile", "coupons"]
)
def test_a_user_without_a_role_is_refused(profiled, path):
    # when
    response = token_client(make_user(None)).get(path)

    # then
    assert response.status_code == 403


def test_bulk_customer_ingest_still_answers_post_beside_the_customer_route(integration_api):
    # when
    response = integration_api.post(
        "/api/v1/customers/bulk/", {"items": [{"customer_id": "C9", "name": "New"}]}, format="json"
    )
    read = integration_api.get("/api/v1/customers/bulk/")

    # then: the bulk route answered both (the customer route never takes "bulk")
    assert response.status_code == 200
    assert response.json() == {
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "refused": 0,
        "errors": [],
    }
    assert Customer.objects.get(customer_id="C9").name == "New"
    assert read.status_code == 405


# The coupons -------------------------------------------------------------------------------


def coupon_row(coupon, *, campaign: str, template: str, status: str, channel: str, at) -> dict:
    """A coupon as the list answers it; validity from the claim moment `at` (7 days)."""
    return {
        "code": coupon.code,
        "campaign": campaign,
        "template": template,
        "status": status,
        "valid_from": local(at),
        "valid_until": local(at + timedelta(days=7)),
        "channel": channel,
    }


@pytest.fixture
def expected_rows(coupon_shop, as_of) -> list[dict]:
    """SH-1's coupons, newest first, as the fixture made them."""
    shop = coupon_shop
    return [
        coupon_row(
            shop.unused,
            campaign="spring",
            template="ten-off",
            status="unused",
            channel="homepage",
            at=as_of - timedelta(hours=1),
        ),
        coupon_row(
            shop.revoked,
            campaign="summer",
            template="summer-ten",
            status="revoked",
            channel="homepage",
            at=as_of - timedelta(hours=2),
        ),
        coupon_row(
            shop.redeemed,
            campaign="spring",
            template="ten-off",
            status="redeemed",
            channel="app_push",
            at=as_of - timedelta(hours=3),
        ),
    ]


@pytest.mark.parametrize("role", ["integration", "marketer", "analyst", "support"])
def test_each_reading_role_lists_the_customers_coupons_newest_first(expected_rows, role):
    # when
    response = token_client(make_user(role)).get("/api/v1/customers/SH-1/coupons/")

    # then
    assert response.status_code == 200
    assert response.json() == {
        "count": 3,
        "next": None,
        "previous": None,
        "results": expected_rows,
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param({"status": "unused"}, [0], id="status-unused"),
        pytest.param({"status": "redeemed"}, [2], id="status-redeemed"),
        pytest.param({"status": "expired"}, [], id="status-expired"),
        pytest.param({"campaign": "spring"}, [0, 2], id="campaign"),
        pytest.param({"campaign": "summer", "status": "revoked"}, [1], id="campaign-and-status"),
        pytest.param({"campaign": "winter"}, [], id="unknown-campaign"),
    ],
)
def test_filters_narrow_the_customers_coupons(integration_api, expected_rows, query, expected):
    # when
    response = integration_api.get("/api/v1/customers/SH-1/coupons/", query)

    # then
    assert response.status_code == 200
    assert response.json()["results"] == [expected_rows[index] for index in expected]
    assert response.json()["count"] == len(expected)


@pytest.mark.parametrize(
    ("query", "field"),
    [({"status": "lost"}, "status"), ({"campaign": "spring\x00"}, "campaign")],
    ids=["unknown-status", "nul-campaign"],
)
def test_a_bad_filter_value_is_400_naming_it(integration_api, coupon_shop, query, field):
    # when
    response = integration_api.get("/api/v1/customers/SH-1/coupons/", query)

    # then
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_coupons_are_paginated(integration_api, expected_rows):
    # when
    first = integration_api.get("/api/v1/customers/SH-1/coupons/", {"page_size": 2})
    second = integration_api.get("/api/v1/customers/SH-1/coupons/", {"page_size": 2, "page": 2})

    # then
    assert first.json()["count"] == 3
    assert first.json()["results"] == expected_rows[:2]
    assert (
        first.json()["next"]
        == "http://testserver/api/v1/customers/SH-1/coupons/?page=2&page_size=2"
    )
    assert second.json()["results"] == expected_rows[2:]
    assert second.json()["next"] is None


def test_a_customer_without_coupons_lists_none(integration_api, coupon_shop):
    # given
    CustomerFactory(customer_id="SH-3")

    # when
    response = integration_api.get("/api/v1/customers/SH-3/coupons/")

    # then
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_listing_coupons_costs_the_same_queries_however_many_there_are(
    integration_api, coupon_shop, as_of, django_assert_num_queries
):
    # given: the token, the customer, the count and the page: 4 queries
    with django_assert_num_queries(4):
        few = integration_api.get("/api/v1/customers/SH-1/coupons/")
    # when SH-2 holds ten more coupons (claimed after the fixture's: the engine's interval
    # rule compares with the latest grant)
    for minute in range(1, 11):
        claim(
            coupon_shop.spring,
            coupon_shop.other,
            "app_push",
            "login",
            as_of + timedelta(minutes=minute),
        )

    # then
    with django_assert_num_queries(4):
        many = integration_api.get("/api/v1/customers/SH-2/coupons/")
    assert (few.json()["count"], many.json()["count"]) == (3, 11)
