"""Conditions on free-text codes (cities, tiers, categories, SKUs, stores, channels, tags,
consent) match whatever the letter case and surrounding spaces of the value or the data:
"Gold" finds the customers whose tier is "gold", " Shanghai" those in "Shanghai". NOT and
the negative operators still keep the customers whose value is unknown, and the builder
offers every such code from the values the data holds, with search."""

from datetime import timedelta

import pytest
from django.core.cache import cache

from crm.models import Customer, Tag
from segments.rules import canonical_rules
from tests.factories import CustomerFactory, OrderFactory, OrderItemFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


@pytest.mark.parametrize(
    "field", ["city", "region", "member_tier", "occupation", "acquisition_channel"]
)
@pytest.mark.parametrize("as_of_is_now", [True, False], ids=["now", "past"])
def test_profile_codes_ignore_case_and_surrounding_spaces(matching, field, as_of_is_now):
    # given
    CustomerFactory(customer_id="LOWER", **{field: "gold"})
    CustomerFactory(customer_id="TITLE", **{field: "Gold"})
    CustomerFactory(customer_id="SPACED", **{field: " GOLD "})
    CustomerFactory(customer_id="OTHER", **{field: "silver"})
    CustomerFactory(customer_id="UNKNOWN", **{field: ""})
    gold = {"LOWER", "TITLE", "SPACED"}

    def match(op, value):
        return matching({"field": field, "op": op, "value": value}, as_of_is_now=as_of_is_now)

    # then
    assert match("eq", "Gold") == gold
    assert match("eq", "  gOLD ") == gold
    assert match("in", ["GOLD", "Silver "]) == gold | {"OTHER"}
    assert match("ne", "gold") == {"OTHER", "UNKNOWN"}
    assert match("not_in", [" gold"]) == {"OTHER", "UNKNOWN"}
    assert match("is_null", True) == {"UNKNOWN"}
    assert matching(
        {"not": {"field": field, "op": "eq", "value": "GOLD"}}, as_of_is_now=as_of_is_now
    ) == {"OTHER", "UNKNOWN"}


@pytest.mark.parametrize("field", ["preferred_category", "preferred_channel"])
def test_stored_preferences_ignore_case_and_spaces(matching, field):
    # given
    CustomerFactory(customer_id="A", **{field: "Nuts"})
    CustomerFactory(customer_id="B", **{field: "tea"})
    CustomerFactory(customer_id="U", **{field: ""})
    # then
    now = {"as_of_is_now": True}
    assert matching({"field": field, "op": "eq", "value": " nuts"}, **now) == {"A"}
    assert matching({"field": field, "op": "in", "value": ["NUTS", "Tea"]}, **now) == {"A", "B"}
    assert matching({"field": field, "op": "ne", "value": "NUTS"}, **now) == {"B", "U"}


def test_past_preferences_ignore_case_and_spaces(matching, as_of):
    # given: preferences computed from the orders at as_of
    nuts = OrderFactory(
        customer=CustomerFactory(customer_id="A"), placed_at=as_of - DAY, channel="App"
    )
    OrderItemFactory(order=nuts, category="Nuts")
    OrderFactory(customer=CustomerFactory(customer_id="U"), placed_at=as_of + DAY)
    # then
    assert matching({"field": "preferred_category", "op": "eq", "value": "NUTS "}) == {"A"}
    assert matching({"field": "preferred_category", "op": "ne", "value": "nuts"}) == {"U"}
    assert matching({"field": "preferred_channel", "op": "in", "value": [" app"]}) == {"A"}
    assert matching({"field": "preferred_channel", "op": "not_in", "value": ["APP"]}) == {"U"}


def test_bought_codes_ignore_case_and_spaces(matching, as_of):
    # given
    order = OrderFactory(
        customer=CustomerFactory(customer_id="A"), placed_at=as_of - DAY, store="Store 1"
    )
    OrderItemFactory(order=order, sku="SKU-Gift", category="Dried Fruit")
    OrderFactory(customer=CustomerFactory(customer_id="N"), placed_at=as_of - DAY, store="s2")
    # then
    assert matching({"field": "bought_category", "op": "eq", "value": " dried fruit"}) == {"A"}
    assert matching({"field": "bought_sku", "op": "in", "value": ["sku-gift "]}) == {"A"}
    assert matching({"field": "bought_in_store", "op": "eq", "value": "STORE 1"}) == {"A"}
    assert matching({"field": "bought_in_store", "op": "ne", "value": "store 1 "}) == {"N"}
    assert matching({"field": "bought_category", "op": "not_in", "value": ["DRIED FRUIT"]}) == {"N"}


@pytest.mark.parametrize("as_of_is_now", [True, False], ids=["now", "past"])
def test_purchase_scopes_ignore_case_and_spaces(matching, as_of, as_of_is_now):
    # given
    order = OrderFactory(
        customer=CustomerFactory(customer_id="A"),
        placed_at=as_of - DAY,
        store="Store 1",
        channel="Mini_Program",
    )
    OrderItemFactory(order=order, sku="SKU-Gift", category="Dried Fruit")
    OrderFactory(customer=CustomerFactory(customer_id="N"), placed_at=as_of - DAY, store="s2")
    at = {"as_of_is_now": as_of_is_now}
    # then
    for scope in (
        {"category": "dried fruit "},
        {"sku": " sku-gift"},
        {"store": "STORE 1"},
        {"channel": "mini_program"},
    ):
        rules = {"field": "order_count", "op": "gte", "value": 1, **scope}
        assert matching(rules, **at) == {"A"}, scope
        spent = {"field": "total_spent", "op": "gte", "value": 1, **scope}
        assert matching(spent, **at) == {"A"}, scope
        assert matching({"not": rules}, **at) == {"N"}, scope


def test_tags_ignore_case_and_spaces(matching):
    # given
    CustomerFactory(customer_id="V").tags.set([Tag.objects.create(name="VIP")])
    CustomerFactory(customer_id="N").tags.set([Tag.objects.create(name="new")])
    CustomerFactory(customer_id="NONE")
    # then
    assert matching({"field": "tag", "op": "has", "value": " vip "}) == {"V"}
    assert matching({"field": "tag", "op": "not_has", "value": "Vip"}) == {"N", "NONE"}


def test_consent_codes_ignore_case_and_spaces(matching):
    # given
    CustomerFactory(customer_id="YES", consent={"sms": True})
    CustomerFactory(customer_id="UPPER", consent={"SMS": True})
    CustomerFactory(customer_id="NO", consent={"Sms": False})
    CustomerFactory(customer_id="TEXT", consent={"sms": "true"})
    CustomerFactory(customer_id="EMPTY", consent={})
    # then
    assert matching({"field": "consent", "op": "has", "value": " SMS"}) == {"YES", "UPPER"}
    assert matching({"field": "consent", "op": "not_has", "value": "sms "}) == {
        "NO",
        "TEXT",
        "EMPTY",
    }


def test_stored_rules_keep_text_values_without_surrounding_spaces():
    # when
    canonical = canonical_rules(
        {
            "all": [
                {"field": "city", "op": "in", "value": [" Shanghai", "Beijing ", "shanghai"]},
                {"field": "order_count", "op": "gte", "value": 1, "store": " Store 1 "},
            ]
        }
    )
    # then: one spelling per value (the first given), trimmed
    assert canonical["all"][0]["value"] == ["Beijing", "Shanghai"]
    assert canonical["all"][1]["store"] == "Store 1"


def test_a_value_of_only_spaces_is_refused(analyst_api):
    # when
    response = analyst_api.post(
        "/api/v1/segments/preview/",
        {"rules": {"field": "city", "op": "eq", "value": "   "}},
        format="json",
    )
    # then
    assert (response.status_code, response.json()) == (
        400,
        {"path": "", "message": 'value must be non-empty text, got "   "'},
    )


# The builder's pick lists -----------------------------------------------------------------

CODE_FIELDS = [
    "city",
    "region",
    "member_tier",
    "occupation",
    "acquisition_channel",
    "preferred_category",
    "preferred_channel",
    "bought_category",
    "bought_sku",
    "bought_in_store",
    "category",
    "sku",
    "store",
    "channel",
    "tag",
    "consent",
]


@pytest.mark.parametrize("field", CODE_FIELDS)
def test_every_code_field_offers_values_from_the_data(analyst_api, field):
    # when
    response = analyst_api.get("/api/v1/segments/field-values/", {"field": field})
    # then
    assert response.status_code == 200


def test_field_values_list_each_code_once_whatever_its_case_most_frequent_first(analyst_api):
    # given
    cache.clear()
    tiers = ["gold", "Gold", "gold", "Silver", "silver ", "Silver", "Platinum"]
    for number, tier in enumerate(tiers):
        Customer.objects.create(customer_id=f"C{number}", member_tier=tier)
    # when
    listed = analyst_api.get("/api/v1/segments/field-values/", {"field": "member_tier"}).json()
    searched = analyst_api.get(
        "/api/v1/segments/field-values/", {"field": "member_tier", "search": "SIL"}
    ).json()
    # then: the most frequent spelling of each code
    assert listed == {"field": "member_tier", "values": ["gold", "Silver", "Platinum"]}
    assert searched == {"field": "member_tier", "values": ["Silver"]}
