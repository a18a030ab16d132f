"""The field catalogue published for the API and the builder."""

import json

from segments.catalogue import field_catalogue

SPEC_FIELDS = {
    "gender",
    "age",
    "birth_month",
    "city",
    "region",
    "occupation",
    "is_member",
    "member_tier",
    "points",
    "registered_at",
    "acquisition_channel",
    "tag",
    "lifecycle_stage",
    "rfm_group",
    "value_tier",
    "order_count",
    "total_spent",
    "avg_order_value",
    "first_order_at",
    "last_order_at",
    "days_since_last_order",
    "bought_category",
    "bought_sku",
    "bought_in_store",
    "event_count",
    "preferred_category",
    "preferred_channel",
    "promotion_sensitivity",
    "weekend_buyer",
    "consent",
    "in_segment",
}
# Beyond the SPEC's list: the other order-derived labels of SPEC §1.
DERIVED_FIELDS = {"is_returning", "usual_daypart", "rfm_recency", "rfm_frequency", "rfm_monetary"}
# Fields with no history of their own (SPEC §2): today's value, whatever the date.
NO_HISTORY = {
    "city",
    "region",
    "occupation",
    "member_tier",
    "acquisition_channel",
    "gender",
    "is_member",
    "points",
    "tag",
    "consent",
}


def test_catalogue_lists_every_available_spec_field_as_json():
    # when
    catalogue = json.loads(json.dumps(field_catalogue()))
    # then
    assert {field["name"] for field in catalogue} == SPEC_FIELDS | DERIVED_FIELDS
    assert [field["family"] for field in catalogue] == sorted(
        (field["family"] for field in catalogue),
        key=["profile", "purchases", "behaviour", "labels"].index,
    )


def test_catalogue_describes_operators_choices_and_options_of_a_field():
    # when
    by_name = {field["name"]: field for field in field_catalogue()}
    # then
    assert by_name["order_count"] == {
        "name": "order_count",
        "label": "Number of orders",
        "family": "purchases",
        "value_type": "integer",
        "operators": ["eq", "ne", "gt", "gte", "lt", "lte", "between"],
        "takes_window": True,
        "takes_kind": False,
        "kinds": [],
        "takes_purchase_scope": True,
        "choices": [],
        "minimum": 0,
        "maximum": None,
        "follows_as_of": True,
        "help_text": "Paid orders. Optionally in a window of time (last N days, or from/to dates).",
    }
    assert by_name["lifecycle_stage"]["choices"][0] == {"value": "potential", "label": "Potential"}
    assert by_name["event_count"]["kinds"][3] == {"value": "add_to_cart", "label": "Add to cart"}
    assert by_name["promotion_sensitivity"]["maximum"] == "1"
    assert by_name["rfm_group"]["follows_as_of"] is True


def test_only_profile_attributes_and_tags_say_they_have_no_history():
    # when
    catalogue = field_catalogue()
    # then
    assert {field["name"] for field in catalogue if not field["follows_as_of"]} == NO_HISTORY
    assert all(field["family"] == "profile" for field in catalogue if not field["follows_as_of"])
    by_name = {field["name"]: field for field in catalogue}
    assert by_name["member_tier"]["help_text"] == (
        "e.g. silver, gold, platinum. Today's value: the profile keeps no history of it."
    )


def test_coupon_and_prediction_fields_wait_for_their_data():
    # when
    names = {field["name"] for field in field_catalogue()}
    # then
    assert names.isdisjoint(
        {
            "coupons_received",
            "coupons_redeemed",
            "p_active",
            "churn_risk",
            "predicted_orders",
            "predicted_clv",
        }
    )
