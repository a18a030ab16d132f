"""Coupon template restrictions are codes from the data, not free text that silently matches
nothing: a redemption compares them trimmed and case-insensitively; a value no order holds
yet (a label instead of the code, or a new gift-box SKU) is accepted with a warning, in the
API (`warnings`) and on the pages; the pages pick the values from those the data holds."""

import json
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator

from campaigns.models import CouponTemplate
from campaigns.services.claims import claim_coupon
from campaigns.services.redemptions import OrderLine, redeem_coupon
from crm.core.models import AuditEntry
from tests.factories import CustomerFactory, OrderFactory, OrderItemFactory

pytestmark = pytest.mark.django_db

TEMPLATES = "/api/v1/coupon-templates/"
DRIED_FRUIT_LABEL = (
    "No order holds the category 'Dried fruit' yet, so the coupon fits no order until one "
    "does; did you mean 'dried_fruit'?"
)
NEW_SKU = "No order holds the SKU 'GIFT-BOX-27' yet, so the coupon fits no order until one does."


@pytest.fixture
def shop_data(db):
    """Orders as a shop's pipeline sends them: codes, not labels."""
    customer = CustomerFactory(customer_id="C-1", city="Shanghai")
    for n, (category, sku) in enumerate(
        [("dried_fruit", "DF-01"), ("dried_fruit", "DF-02"), ("nuts", "NUT-01")]
    ):
        order = OrderFactory(order_id=f"O-{n}", customer=customer, store="SH-01", city="Shanghai")
        OrderItemFactory(order=order, sku=sku, category=category)
    return customer


def template_payload(**overrides) -> dict:
    body = {
        "code": "dried-fruit-10",
        "name": "10 off dried fruit",
        "kind": "cash",
        "face_value": "10.00",
        "valid_days": 7,
    }
    body.update(overrides)
    return body


def flashed(response) -> list[tuple[str, str]]:
    return [(message.level_tag, message.message) for message in get_messages(response.wsgi_request)]


# Redemption matches codes trimmed and case-insensitively ---------------------------------


@pytest.mark.parametrize(
    ("restriction", "order"),
    [
        pytest.param({"categories": ["Dried_Fruit"]}, {}, id="category-case"),
        pytest.param({"skus": ["df-01 "]}, {}, id="sku-case-and-space"),
        pytest.param({"stores": ["sh-01"]}, {"store": " SH-01 "}, id="store"),
        pytest.param({"cities": ["SHANGHAI"]}, {"city": "shanghai"}, id="city"),
    ],
)
def test_restrictions_match_trimmed_and_case_insensitively(
    make_campaign, make_template, shopper, app_push, as_of, restriction, order
):
    # given
    campaign = make_campaign(template=make_template(threshold=0, **restriction))
    coupon = claim_coupon(
        campaign=campaign.code,
        customer=shopper.customer_id,
        channel=app_push.code,
        trigger="login",
        idempotency_key="k1",
        now=as_of,
    ).coupons[0]
    # when
    result = redeem_coupon(
        code=coupon.code,
        customer=shopper,
        order_id="O1",
        amount=Decimal("80.00"),
        items=[
            OrderLine(sku="DF-01", category="dried_fruit", quantity=2, unit_price=Decimal("40"))
        ],
        store=order.get("store", "SH-01"),
        city=order.get("city", "Shanghai"),
        now=as_of,
    )
    # then
    assert (result.created, result.redemption.discount) == (True, Decimal("10.00"))


# Warnings for values no order holds ------------------------------------------------------


def test_a_label_instead_of_the_code_is_saved_with_a_warning_naming_the_code(
    shop_data, marketer_api
):
    # when
    response = marketer_api.post(
        TEMPLATES, template_payload(categories=["Dried fruit"]), format="json"
    )
    # then
    assert response.status_code == 201
    assert response.json()["categories"] == ["Dried fruit"]
    assert response.json()["warnings"] == [DRIED_FRUIT_LABEL]
    assert CouponTemplate.objects.get().categories == ["Dried fruit"]


def test_a_new_sku_is_saved_with_a_warning(shop_data, marketer_api):
    response = marketer_api.post(
        TEMPLATES, template_payload(skus=["GIFT-BOX-27", "df-02"]), format="json"
    )
    assert response.status_code == 201
    assert response.json()["warnings"] == [NEW_SKU]


def test_values_the_orders_hold_in_another_case_are_not_warned_about(shop_data, marketer_api):
    response = marketer_api.post(
        TEMPLATES,
        template_payload(
            categories=["DRIED_FRUIT"], skus=["df-01"], stores=["sh-01"], cities=["shanghai"]
        ),
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["warnings"] == []


def test_every_dimension_is_checked_against_the_orders(shop_data, marketer_api):
    response = marketer_api.post(
        TEMPLATES,
        template_payload(stores=["BJ-09"], cities=["Beijing"]),
        format="json",
    )
    assert response.json()["warnings"] == [
        "No order holds the store 'BJ-09' yet, so the coupon fits no order until one does.",
        "No order holds the city 'Beijing' yet, so the coupon fits no order until one does.",
    ]


def test_an_update_answers_with_the_warnings_of_the_saved_template(shop_data, marketer_api):
    # given
    marketer_api.post(TEMPLATES, template_payload(), format="json")
    # when
    changed = marketer_api.patch(
        f"{TEMPLATES}dried-fruit-10/", {"categories": ["Dried fruit"]}, format="json"
    )
    renamed = marketer_api.patch(
        f"{TEMPLATES}dried-fruit-10/", {"name": "Dried fruit deal"}, format="json"
    )
    fixed = marketer_api.patch(
        f"{TEMPLATES}dried-fruit-10/", {"categories": ["dried_fruit"]}, format="json"
    )
    # then
    assert [r.status_code for r in (changed, renamed, fixed)] == [200, 200, 200]
    assert changed.json()["warnings"] == renamed.json()["warnings"] == [DRIED_FRUIT_LABEL]
    assert fixed.json()["warnings"] == []


def test_the_schema_documents_warnings_on_create_and_update():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    saved = schema["components"]["schemas"]["CouponTemplateSaved"]
    assert saved["properties"]["warnings"]["type"] == "array"
    create = schema["paths"][TEMPLATES]["post"]["responses"]["201"]
    update = schema["paths"][f"{TEMPLATES}{{code}}/"]["patch"]["responses"]["200"]
    for response in (create, update):
        assert response["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/CouponTemplateSaved"
        }


# The pages ------------------------------------------------------------------------------


@pytest.fixture
def marketer_client(client, marketer):
    client.force_login(marketer)
    return client


def template_form(**overrides) -> dict:
    data = {
        "code": "dried-fruit-10",
        "name": "10 off dried fruit",
        "kind": "cash",
        "face_value": "10",
        "max_discount": "",
        "threshold": "0",
        "validity": "relative",
        "valid_days": "7",
        "valid_from": "",
        "valid_until": "",
        "categories": "Dried fruit",
        "skus": "",
        "stores": "",
        "cities": "",
        "cost_bearer": "platform",
    }
    data.update(overrides)
    return data


def test_template_page_saves_with_the_warning_and_shows_it_on_the_template(
    shop_data, marketer_client
):
    # when
    response = marketer_client.post(reverse("coupon-template-create"), template_form())
    page = marketer_client.get(reverse("coupon-template-update", args=["dried-fruit-10"]))
    # then
    assert response.status_code == 302
    assert flashed(response) == [
        ("success", "Coupon template dried-fruit-10 is created."),
        ("warning", DRIED_FRUIT_LABEL),
    ]
    assert page.context["warnings"] == [DRIED_FRUIT_LABEL]
    assert "did you mean &#x27;dried_fruit&#x27;?" in page.content.decode()


def test_campaign_page_warns_about_its_templates_restrictions(
    shop_data, make_campaign, make_template, marketer_client
):
    # given
    make_campaign(code="df", template=make_template(code="df-deal", categories=["Dried fruit"]))
    # when
    response = marketer_client.get(reverse("campaign-detail", args=["df"]))
    # then
    assert response.context["detail"].restriction_warnings == [
        f"Coupon template df-deal: {DRIED_FRUIT_LABEL}"
    ]


def test_pick_list_values_come_from_the_data_most_frequent_first(shop_data, marketer_client):
    # given
    url = reverse("campaign-values")
    # when
    categories = marketer_client.get(url, {"field": "category"})
    searched = marketer_client.get(url, {"field": "sku", "search": "df"})
    stores = marketer_client.get(url, {"field": "store"})
    cities = marketer_client.get(url, {"field": "customer_city"})
    # then
    assert categories.json() == {"field": "category", "values": ["dried_fruit", "nuts"]}
    assert searched.json() == {"field": "sku", "values": ["DF-01", "DF-02"]}
    assert stores.json() == {"field": "store", "values": ["SH-01"]}
    assert cities.json() == {"field": "customer_city", "values": ["Shanghai"]}


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        pytest.param(
            {"field": "colour"},
            {"field": ["Select a valid choice. colour is not one of the available choices."]},
            id="unknown-field",
        ),
        pytest.param(
            {"field": "sku", "search": "a\x00"},
            {"search": ["Null characters are not allowed."]},
            id="nul-in-search",
        ),
    ],
)
def test_pick_list_refuses_bad_queries_with_400(marketer_client, query, errors):
    response = marketer_client.get(reverse("campaign-values"), query)
    assert response.status_code == 400
    assert response.json() == errors


def test_pick_lists_are_for_marketers_and_analysts(client, analyst, integration):
    url = reverse("campaign-values")
    client.force_login(analyst)
    assert client.get(url, {"field": "sku"}).status_code == 200
    client.force_login(integration)
    assert client.get(url, {"field": "sku"}).status_code == 403


def test_template_form_and_wizard_offer_pick_lists(marketer_client, shanghai):
    # when
    template_page = marketer_client.get(reverse("coupon-template-create")).content.decode()
    wizard = marketer_client.get(reverse("campaign-create")).content.decode()
    # then: each code field names the values it is picked from
    values = reverse("campaign-values")
    for field, source in (
        ("categories", "category"),
        ("skus", "sku"),
        ("stores", "store"),
        ("cities", "city"),
    ):
        assert f'name="{field}" data-pick-list="{values}?field={source}"' in template_page
    assert f'name="cities" data-pick-list="{values}?field=customer_city"' in wizard
    assert "js/campaign_wizard.js" in template_page


def test_nothing_is_written_when_a_warned_template_is_refused_for_another_reason(
    shop_data, marketer_api
):
    response = marketer_api.post(
        TEMPLATES, template_payload(categories=["Dried fruit"], valid_days=None), format="json"
    )
    assert response.status_code == 400
    assert "warnings" not in response.json()
    assert (CouponTemplate.objects.count(), AuditEntry.objects.count()) == (0, 0)


def test_a_template_created_before_its_first_order_stops_warning_once_one_holds_it(
    shop_data, marketer_api
):
    # given: a new SKU, warned about
    first = marketer_api.post(TEMPLATES, template_payload(skus=["GIFT-BOX-27"]), format="json")
    assert first.json()["warnings"] == [NEW_SKU]
    # when: the first order of it arrives, and the cached answer (10 minutes) has expired
    OrderItemFactory(order=OrderFactory(customer=shop_data), sku="GIFT-BOX-27")
    cache.clear()
    again = marketer_api.patch(f"{TEMPLATES}dried-fruit-10/", {"name": "Gift box"}, format="json")
    # then
    assert again.json()["warnings"] == []


def test_values_view_reads_json(shop_data, marketer_client):
    response = marketer_client.get(reverse("campaign-values"), {"field": "city"})
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {"field": "city", "values": ["Shanghai"]}


def test_admin_saves_a_template_with_its_warnings_as_messages(shop_data, client, admin_user):
    # given
    client.force_login(admin_user)
    # when
    response = client.post(
        reverse("admin:campaigns_coupontemplate_add"),
        {
            "code": "dried-fruit-10",
            "name": "10 off dried fruit",
            "kind": "cash",
            "face_value": "10",
            "max_discount": "",
            "threshold": "0",
            "valid_days": "7",
            "categories": '["Dried fruit"]',
            "skus": "[]",
            "stores": "[]",
            "cities": "[]",
            "cost_bearer": "platform",
        },
    )
    # then
    assert response.status_code == 302
    assert CouponTemplate.objects.get().categories == ["Dried fruit"]
    assert ("warning", DRIED_FRUIT_LABEL) in flashed(response)
