"""Property: on random small datasets, the compiled SQL selects exactly the customers the
reference evaluator selects, for random rule trees with NOT, nesting and windows.

Datasets mix customers without orders, NULL and blank fields, unpaid orders, orders after
as_of and instants on the window and lifecycle boundaries. Two runs: with an explicit as_of
(every order-derived field rebuilt from the orders at as_of; the stored labels and the stage
history hold deliberately wrong values, which must not leak into the answer) and with
as_of_is_now after a metrics recompute (the stored columns answer), which also checks the
compiler against crm.services.metrics.
"""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.models import BehaviourEvent, Customer, Order, OrderItem, StageChange, Tag
from crm.services.metrics import recompute_customer_metrics
from segments.compiler import compile_rule_tree
from segments.enums import SegmentKind
from segments.models import Segment, SegmentMember
from segments.rules import canonical_rules, parse_rule_tree
from tests.segments.reference_evaluator import evaluate, load_dataset

pytestmark = pytest.mark.django_db

AS_OF = datetime(2026, 6, 30, 12, 0, tzinfo=ZoneInfo("UTC"))
SHANGHAI = ZoneInfo("Asia/Shanghai")
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=SHANGHAI)


# Instants on and next to every boundary the rules below use (last 1/7/30 days, the window
# dates, the date values), plus one after as_of that must never count.
MOMENTS = [
    AS_OF + DAY,
    AS_OF,
    AS_OF - SECOND,
    AS_OF - DAY,
    AS_OF - DAY + SECOND,
    AS_OF - 7 * DAY,
    AS_OF - 7 * DAY + SECOND,
    AS_OF - 30 * DAY,
    AS_OF - 30 * DAY + SECOND,
    AS_OF - 45 * DAY,
    AS_OF - 60 * DAY,
    AS_OF - 60 * DAY + SECOND,
    AS_OF - 90 * DAY,
    AS_OF - 90 * DAY - SECOND,
    AS_OF - 120 * DAY,
    # A local Saturday and Sunday evening, a morning and an afternoon (Asia/Shanghai).
    AS_OF - 3 * DAY,
    AS_OF - 2 * DAY,
    AS_OF - timedelta(hours=9),
    AS_OF - timedelta(hours=3),
    *(
        local_midnight(day) + shift
        for day in (date(2026, 6, 1), date(2026, 6, 16), date(2026, 6, 30))
        for shift in (-SECOND, timedelta(0))
    ),
]
AMOUNTS = [Decimal(text) for text in ("0", "0.01", "10", "33.33", "33.34", "100", "499.99", "500")]
BIRTH_DATES = [None, date(1996, 6, 30), date(1996, 7, 1), date(2000, 2, 29), date(1990, 3, 15)]
DAY_VALUES = ["2026-06-01", "2026-06-15", "2026-06-30", "2026-06-16T00:00:00+08:00"]
WINDOWS = [
    None,
    {"last_days": 1},
    {"last_days": 7},
    {"last_days": 30},
    {"from": "2026-06-01", "to": "2026-06-15"},
    {"from": "2026-06-16"},
    {"to": "2026-06-29"},
]

# ---------------------------------------------------------------------------------------
# Datasets

# Codes are written in several letter cases and with surrounding spaces, in the data and in
# the rules: they must match all the same.
items = st.lists(
    st.tuples(
        st.sampled_from(["nuts", "tea", "Nuts", " TEA"]),
        st.integers(1, 3),
        st.sampled_from([Decimal("5"), Decimal("12.50")]),
    ),
    max_size=2,
)
orders = st.lists(
    st.fixed_dictionaries(
        {
            "placed_at": st.sampled_from(MOMENTS),
            "amount": st.sampled_from(AMOUNTS),
            "status": st.sampled_from(["paid", "paid", "refunded"]),
            "store": st.sampled_from(["", "S1", "s1 "]),
            "channel": st.sampled_from(["app", "web", "", "App"]),
            "coupon_code": st.sampled_from(["", "", "C1"]),
            "items": items,
        }
    ),
    max_size=6,
)
customers = st.lists(
    st.fixed_dictionaries(
        {
            "city": st.sampled_from(["Shanghai", "Beijing", "", "shanghai", " BEIJING "]),
            "gender": st.sampled_from(["female", "male", ""]),
            "birth_date": st.sampled_from(BIRTH_DATES),
            "is_member": st.booleans(),
            "points": st.sampled_from([0, 50, 100]),
            "registered_at": st.sampled_from([None, *MOMENTS]),
            "consent": st.sampled_from(
                [{}, {"sms": True}, {"sms": False}, {"sms": "true"}, {"SMS": True}, {" Sms": False}]
            ),
            "lifecycle_stage": st.sampled_from(["potential", "new", "churned"]),
            "rfm_group": st.sampled_from(["", "champions", "at_risk"]),
            "promotion_sensitivity": st.sampled_from(
                [None, Decimal("0"), Decimal("0.5"), Decimal("1")]
            ),
            "weekend_buyer": st.sampled_from([None, True, False]),
            "tags": st.sets(st.sampled_from(["vip", "new", "NEW "])),
            "orders": orders,
            "events": st.lists(
                st.tuples(st.sampled_from(["visit", "add_to_cart"]), st.sampled_from(MOMENTS)),
                max_size=3,
            ),
            "stage_changes": st.lists(
                st.tuples(st.sampled_from(MOMENTS), st.sampled_from(["new", "growing", "churned"])),
                max_size=2,
            ),
            "in_snapshot": st.booleans(),
        }
    ),
    max_size=6,
)


NOT_PROFILE = ("tags", "orders", "events", "stage_changes", "in_snapshot")


def store_dataset(people: list[dict], *, with_stage_history: bool) -> dict[str, int]:
    """Write the generated customers; returns the ids of the two referenced segments.

    Without stage history the customers start as `potential`, as real ones do, so that the
    stage changes a metrics recompute records are their whole history.
    """
    tags = {name: Tag.objects.create(name=name) for name in ("vip", "new", "NEW ")}
    snapshot = Segment.objects.create(name="Snapshot", kind=SegmentKind.SNAPSHOT)
    dynamic = Segment.objects.create(
        name="Dynamic",
        rules=canonical_rules(
            {
                "any": [
                    {"field": "city", "op": "eq", "value": "Shanghai"},
                    {"field": "order_count", "op": "gte", "value": 2, "window": {"last_days": 30}},
                ]
            }
        ),
    )
    profiles = [
        {key: value for key, value in person.items() if key not in NOT_PROFILE} for person in people
    ]
    if not with_stage_history:
        for profile in profiles:
            profile["lifecycle_stage"] = "potential"
    stored = Customer.objects.bulk_create(
        Customer(customer_id=f"P{number}", **profile) for number, profile in enumerate(profiles)
    )
    placed_orders, order_items, events, changes, tagged, members = [], [], [], [], [], []
    for customer, person in zip(stored, people, strict=True):
        tagged += [
            Customer.tags.through(customer=customer, tag=tags[name]) for name in person["tags"]
        ]
        for order in person["orders"]:
            placed = Order(
                customer=customer,
                order_id=f"{customer.customer_id}-{len(placed_orders)}",
                **{key: value for key, value in order.items() if key != "items"},
            )
            placed_orders.append(placed)
            order_items += [
                OrderItem(
                    order=placed,
                    sku=f"SKU{index}",
                    category=category,
                    quantity=quantity,
                    unit_price=unit_price,
                )
                for index, (category, quantity, unit_price) in enumerate(order["items"])
            ]
        events += {
            (kind, moment): BehaviourEvent(customer=customer, kind=kind, occurred_at=moment)
            for kind, moment in person["events"]
        }.values()
        if with_stage_history:
            changes += [
                StageChange(customer=customer, to_stage=stage, changed_at=moment)
                for moment, stage in person["stage_changes"]
            ]
        if person["in_snapshot"]:
            members.append(SegmentMember(segment=snapshot, customer=customer, added_at=AS_OF))
    Customer.tags.through.objects.bulk_create(tagged)
    Order.objects.bulk_create(placed_orders)
    OrderItem.objects.bulk_create(order_items)
    BehaviourEvent.objects.bulk_create(events)
    StageChange.objects.bulk_create(changes)
    SegmentMember.objects.bulk_create(members)
    return {"snapshot": snapshot.pk, "dynamic": dynamic.pk}


# ---------------------------------------------------------------------------------------
# Rule trees

SEGMENT_PLACEHOLDERS = {"<snapshot>": "snapshot", "<dynamic>": "dynamic"}


def condition(field: str, op, value, **extra) -> st.SearchStrategy:
    parts = {"field": st.just(field), "op": st.just(op) if isinstance(op, str) else op}
    parts["value"] = value if isinstance(value, st.SearchStrategy) else st.just(value)
    for key, strategy in extra.items():
        parts[key] = strategy
    return st.fixed_dictionaries(parts)


def comparisons(values: list) -> st.SearchStrategy:
    single = st.tuples(
        st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]), st.sampled_from(values)
    )
    pair = st.lists(st.sampled_from(values), min_size=2, max_size=2).map(
        lambda pair: ("between", sorted(pair, key=lambda value: Decimal(str(value))))
    )
    return st.one_of(single, pair)


def numeric(field: str, values: list, **extra) -> st.SearchStrategy:
    return st.tuples(comparisons(values), st.fixed_dictionaries(extra)).map(
        lambda drawn: {"field": field, "op": drawn[0][0], "value": drawn[0][1], **drawn[1]}
    )


def time_condition(field: str) -> st.SearchStrategy:
    ordered = st.lists(st.sampled_from(DAY_VALUES[:3]), min_size=2, max_size=2).map(sorted)
    return st.one_of(
        condition(field, st.sampled_from(["before", "after"]), st.sampled_from(DAY_VALUES)),
        condition(field, "between", ordered),
        condition(field, "within_last_days", st.sampled_from([1, 7, 30])),
        condition(field, "is_null", st.booleans()),
    )


scopes = {
    "window": st.sampled_from(WINDOWS),
    "category": st.sampled_from([None, None, "nuts", " NUTS"]),
    "store": st.sampled_from([None, None, "S1", "s1"]),
}


def leaves() -> st.SearchStrategy:
    """Conditions over most fields; those reading orders, events or time are drawn twice as
    often, since their boundaries are where compilers go wrong."""
    texts = st.sampled_from(["Shanghai", "Beijing", "SHANGHAI", " beijing"])
    profile = st.one_of(
        condition("city", st.sampled_from(["eq", "ne"]), texts),
        condition(
            "city", st.sampled_from(["in", "not_in"]), st.lists(texts, min_size=1, max_size=2)
        ),
        condition("city", "is_null", st.booleans()),
        condition("gender", st.sampled_from(["eq", "ne"]), st.sampled_from(["female", "male"])),
        numeric("age", [25, 26, 29, 30, 36]),
        condition("age", "is_null", st.booleans()),
        condition("birth_month", st.sampled_from(["eq", "ne"]), st.sampled_from([2, 3, 6, 7])),
        condition("is_member", "eq", st.booleans()),
        numeric("points", [0, 50, 100]),
        condition(
            "tag", st.sampled_from(["has", "not_has"]), st.sampled_from(["vip", "new", "VIP"])
        ),
        condition("consent", st.sampled_from(["has", "not_has"]), st.sampled_from(["sms", "SMS"])),
        condition(
            "in_segment",
            st.sampled_from(["eq", "ne"]),
            st.sampled_from(list(SEGMENT_PLACEHOLDERS)),
        ),
    )
    # Derived from orders: rebuilt at as_of (never the stored columns, never the history).
    labels = st.one_of(
        condition(
            "lifecycle_stage",
            st.sampled_from(["in", "not_in"]),
            st.lists(
                st.sampled_from(
                    ["potential", "new", "growing", "declining", "mature", "silent", "churned"]
                ),
                min_size=1,
                max_size=3,
            ),
        ),
        condition(
            "rfm_group",
            st.sampled_from(["eq", "ne"]),
            st.sampled_from(["champions", "at_risk", "hibernating", "new_customers", "loyal"]),
        ),
        condition("rfm_group", "is_null", st.booleans()),
        numeric("rfm_recency", [1, 2, 3, 4, 5]),
        numeric("rfm_frequency", [1, 3, 5]),
        numeric("rfm_monetary", [1, 2, 4, 5]),
        condition("rfm_monetary", "is_null", st.booleans()),
        condition(
            "value_tier",
            st.sampled_from(["in", "not_in"]),
            st.lists(st.sampled_from(["none", "low", "medium", "high"]), min_size=1, max_size=2),
        ),
        condition("is_returning", "eq", st.booleans()),
        numeric("promotion_sensitivity", ["0", "0.3333", "0.5", "1"]),
        condition("promotion_sensitivity", "is_null", st.booleans()),
        condition("weekend_buyer", "eq", st.booleans()),
        condition("weekend_buyer", "is_null", st.booleans()),
        condition(
            "preferred_category",
            st.sampled_from(["eq", "ne"]),
            st.sampled_from(["nuts", "tea", "Nuts"]),
        ),
        condition("preferred_category", "is_null", st.booleans()),
        condition(
            "preferred_channel",
            st.sampled_from(["in", "not_in"]),
            st.lists(st.sampled_from(["app", "web", "APP "]), min_size=1, max_size=2),
        ),
        condition("preferred_channel", "is_null", st.booleans()),
        condition(
            "usual_daypart",
            st.sampled_from(["eq", "ne"]),
            st.sampled_from(["morning", "afternoon", "evening", "night"]),
        ),
    )
    history = st.one_of(
        time_condition("registered_at"),
        numeric("order_count", [0, 1, 2, 3], **scopes),
        numeric("total_spent", ["0", "10", "33.33", "43.33", "100"], **scopes),
        numeric("avg_order_value", ["0.01", "10", "16.67", "33.33", "33.34"], **scopes),
        condition("avg_order_value", "is_null", st.booleans(), window=scopes["window"]),
        time_condition("first_order_at"),
        time_condition("last_order_at"),
        numeric("days_since_last_order", [0, 1, 7, 30, 45]),
        condition("days_since_last_order", "is_null", st.booleans()),
        condition(
            "bought_category",
            st.sampled_from(["eq", "ne"]),
            st.sampled_from(["nuts", "tea", "Tea"]),
            window=scopes["window"],
        ),
        condition(
            "bought_in_store",
            st.sampled_from(["in", "not_in"]),
            st.sampled_from([["S1"], ["s1 "]]),
            window=scopes["window"],
        ),
        numeric(
            "event_count",
            [0, 1, 2],
            window=st.sampled_from(WINDOWS),
            kind=st.sampled_from([None, "visit", "add_to_cart"]),
        ),
    )
    return st.one_of(profile, labels, history, history)


def rule_trees() -> st.SearchStrategy:
    return st.recursive(
        leaves(),
        lambda children: st.one_of(
            st.lists(children, min_size=1, max_size=3).map(lambda nodes: {"all": nodes}),
            st.lists(children, min_size=1, max_size=3).map(lambda nodes: {"any": nodes}),
            children.map(lambda node: {"not": node}),
        ),
        max_leaves=6,
    )


def sibling_aggregates() -> st.SearchStrategy:
    """An AllOf of 2-4 conditions on aggregates of the same rows (one window and scope for
    all of them, some negated, with first/last order times and days since the last order
    whose ranges do or do not fit that window): what the compiler merges into one GROUP BY,
    which the random trees above draw too rarely."""

    def siblings(shared: dict) -> st.SearchStrategy:
        window = st.just(shared["window"])
        scope = {key: st.just(value) for key, value in shared.items()}
        leaf = st.one_of(
            numeric("order_count", [0, 1, 2, 3], **scope),
            numeric("total_spent", ["0", "10", "33.33", "43.33", "100"], **scope),
            numeric("avg_order_value", ["0.01", "10", "16.67", "33.33"], **scope),
            numeric("days_since_last_order", [0, 1, 6, 7, 29, 30, 45]),
            time_condition("last_order_at"),
            time_condition("first_order_at"),
            numeric("event_count", [0, 1, 2], window=window, kind=st.just("visit")),
            # Labels that are aggregates of all the paid orders up to as_of: they merge with
            # the unwindowed, unscoped purchase conditions.
            condition(
                "lifecycle_stage",
                st.sampled_from(["in", "not_in"]),
                st.lists(
                    st.sampled_from(["potential", "new", "growing", "silent", "churned"]),
                    min_size=1,
                    max_size=2,
                ),
            ),
            condition(
                "value_tier", st.sampled_from(["eq", "ne"]), st.sampled_from(["none", "low"])
            ),
            condition("weekend_buyer", "eq", st.booleans()),
            condition("is_returning", "eq", st.booleans()),
            numeric("promotion_sensitivity", ["0", "0.5"]),
        )
        child = st.one_of(leaf, leaf, leaf.map(lambda node: {"not": node}))
        return st.lists(child, min_size=2, max_size=4).map(lambda nodes: {"all": nodes})

    shared = st.fixed_dictionaries(
        {
            "window": st.sampled_from(WINDOWS),
            "category": st.sampled_from([None, None, None, "nuts", "NUTS"]),
            "store": st.sampled_from([None, None, None, "S1", " s1"]),
        }
    )
    merged = shared.flatmap(siblings)
    return st.one_of(merged, merged.map(lambda node: {"not": node}))


def with_segment_ids(rules: dict, segments: dict[str, int]) -> dict:
    """The drawn tree with the placeholder segment names replaced by the stored ids."""
    if "field" in rules:
        if rules["field"] == "in_segment":
            return {**rules, "value": segments[SEGMENT_PLACEHOLDERS[rules["value"]]]}
        return rules
    if "not" in rules:
        return {"not": with_segment_ids(rules["not"], segments)}
    group, children = next(iter(rules.items()))
    return {group: [with_segment_ids(child, segments) for child in children]}


# Building a dataset costs more than evaluating a rule, so each dataset is asked several.
RULES_PER_DATASET = 6
# Built once: strategies made inside each example made drawing dominate the run time.
RULE_TREE_LISTS = st.lists(rule_trees(), min_size=RULES_PER_DATASET, max_size=RULES_PER_DATASET)
SIBLING_LISTS = st.lists(
    sibling_aggregates(), min_size=RULES_PER_DATASET, max_size=RULES_PER_DATASET
)


# ---------------------------------------------------------------------------------------
# Properties

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    # Each example runs in its own savepoint and rolls it back (see check_example).
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def check_example(trees: list[dict], people: list[dict], *, as_of_is_now: bool) -> None:
    with transaction.atomic():
        segments = store_dataset(people, with_stage_history=not as_of_is_now)
        if as_of_is_now:
            recompute_customer_metrics(as_of=AS_OF)
        dataset = load_dataset()
        for tree in trees:
            rules = with_segment_ids(tree, segments)
            node = parse_rule_tree(rules)
            compiled = set(
                Customer.objects.filter(
                    compile_rule_tree(node, as_of=AS_OF, as_of_is_now=as_of_is_now)
                ).values_list("pk", flat=True)
            )
            assert compiled == evaluate(node, dataset, as_of=AS_OF), rules
        transaction.set_rollback(True)


@PROPERTY_SETTINGS
@given(trees=RULE_TREE_LISTS, people=customers)
def test_compiled_rules_match_the_reference_evaluator_as_of_a_past_moment(db, trees, people):
    check_example(trees, people, as_of_is_now=False)


@PROPERTY_SETTINGS
@given(trees=RULE_TREE_LISTS, people=customers)
def test_compiled_rules_on_stored_metrics_match_the_reference_evaluator(db, trees, people):
    check_example(trees, people, as_of_is_now=True)


@PROPERTY_SETTINGS
@given(trees=SIBLING_LISTS, people=customers)
def test_merged_sibling_aggregates_match_the_reference_evaluator(db, trees, people):
    check_example(trees, people, as_of_is_now=False)


@PROPERTY_SETTINGS
@given(trees=SIBLING_LISTS, people=customers)
def test_merged_sibling_aggregates_on_stored_metrics_match_the_reference_evaluator(
    db, trees, people
):
    check_example(trees, people, as_of_is_now=True)
