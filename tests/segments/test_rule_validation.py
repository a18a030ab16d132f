"""Rule trees the catalogue refuses, each with the node it points at and why (SPEC §2)."""

import copy
from datetime import date
from decimal import Decimal

import pytest

from segments.enums import Operator, SegmentKind
from segments.models import Segment
from segments.rules import (
    AllOf,
    AnyOf,
    Condition,
    Not,
    PurchaseScope,
    RuleError,
    SegmentCycleError,
    Window,
    canonical_rules,
    parse_rule_tree,
)

pytestmark = pytest.mark.django_db

CITY = {"field": "city", "op": "eq", "value": "Shanghai"}


def refusal(rules, **options) -> tuple[str, str]:
    with pytest.raises(RuleError) as caught:
        parse_rule_tree(rules, **options)
    return caught.value.path, caught.value.message


@pytest.mark.parametrize(
    ("rules", "path", "message"),
    [
        pytest.param(
            {"all": [CITY, {"any": [CITY, {"field": "shoe_size", "op": "eq", "value": 42}]}]},
            "all[1].any[1]",
            'unknown field "shoe_size"',
            id="unknown-field",
        ),
        pytest.param(
            {"all": [{"field": "city", "op": "gt", "value": "Shanghai"}]},
            "all[0]",
            'field "city" does not accept operator "gt" (accepted: eq, ne, in, not_in, is_null)',
            id="operator-not-accepted",
        ),
        pytest.param(
            {"field": "city", "op": "like", "value": "Shang%"},
            "",
            'unknown operator "like"',
            id="unknown-operator",
        ),
        pytest.param(
            {"field": "city", "value": "Shanghai"},
            "",
            'a condition needs an "op"',
            id="missing-operator",
        ),
        pytest.param(
            {"field": "city", "op": "eq"},
            "",
            'a condition needs a "value"',
            id="missing-value",
        ),
        pytest.param(
            {"field": "city", "op": "eq", "value": "Shanghai", "colour": "red"},
            "",
            'unknown key "colour" in a condition',
            id="unknown-key",
        ),
        pytest.param(
            {"any": [{"field": "order_count", "op": "gte", "value": "abc"}]},
            "any[0]",
            'value must be a whole number, got "abc"',
            id="text-for-a-number",
        ),
        pytest.param(
            {"field": "order_count", "op": "gte", "value": 2.5},
            "",
            "value must be a whole number, got 2.5",
            id="fraction-for-a-count",
        ),
        pytest.param(
            {"field": "order_count", "op": "gte", "value": True},
            "",
            "value must be a whole number, got true",
            id="boolean-for-a-count",
        ),
        pytest.param(
            {"field": "total_spent", "op": "gte", "value": "lots"},
            "",
            'value must be a number, got "lots"',
            id="text-for-money",
        ),
        pytest.param(
            {"field": "order_count", "op": "gte", "value": -1},
            "",
            "value must be at least 0, got -1",
            id="negative-count",
        ),
        pytest.param(
            {"field": "birth_month", "op": "eq", "value": 13},
            "",
            "value must be at most 12, got 13",
            id="month-13",
        ),
        pytest.param(
            {"field": "promotion_sensitivity", "op": "gt", "value": "1.5"},
            "",
            'value must be at most 1, got "1.5"',
            id="share-above-one",
        ),
        pytest.param(
            {"field": "city", "op": "eq", "value": ["Shanghai", "Beijing"]},
            "",
            'operator "eq" takes a single value, not a list',
            id="list-for-eq",
        ),
        pytest.param(
            {"field": "city", "op": "in", "value": "Shanghai"},
            "",
            'operator "in" takes a non-empty list of values',
            id="text-for-in",
        ),
        pytest.param(
            {"field": "city", "op": "in", "value": []},
            "",
            'operator "in" takes a non-empty list of values',
            id="empty-in",
        ),
        pytest.param(
            {"field": "city", "op": "in", "value": ["Shanghai", ""]},
            "",
            'value[1] must be non-empty text, got ""',
            id="blank-text-in-list",
        ),
        pytest.param(
            {"field": "age", "op": "between", "value": [30]},
            "",
            'operator "between" takes a list of two values [low, high]',
            id="between-one-value",
        ),
        pytest.param(
            {"field": "age", "op": "between", "value": [40, 30]},
            "",
            'operator "between" needs the low value first, got [40, 30]',
            id="between-reversed",
        ),
        pytest.param(
            {"field": "registered_at", "op": "between", "value": ["2026-03-02", "2026-03-01"]},
            "",
            'operator "between" needs the low value first, got ["2026-03-02", "2026-03-01"]',
            id="between-reversed-dates",
        ),
        pytest.param(
            {"field": "age", "op": "between", "value": [20, "x"]},
            "",
            'value[1] must be a whole number, got "x"',
            id="between-bad-high",
        ),
        pytest.param(
            {"not": {"field": "lifecycle_stage", "op": "in", "value": ["churned", "dormant"]}},
            "not",
            'value[1] "dormant" is not a known lifecycle stage '
            "(expected one of potential, churned, silent, new, mature, declining, growing)",
            id="unknown-lifecycle-stage",
        ),
        pytest.param(
            {"field": "gender", "op": "eq", "value": "robot"},
            "",
            'value "robot" is not a known gender (expected one of female, male, other)',
            id="unknown-gender",
        ),
        pytest.param(
            {"field": "is_member", "op": "eq", "value": "yes"},
            "",
            'value must be true or false, got "yes"',
            id="text-for-a-boolean",
        ),
        pytest.param(
            {"field": "registered_at", "op": "before", "value": "March"},
            "",
            'value must be a date (YYYY-MM-DD) or a date-time with its UTC offset, got "March"',
            id="not-a-date",
        ),
        pytest.param(
            {"field": "registered_at", "op": "before", "value": "2026-03-01T10:00:00"},
            "",
            "value must be a date (YYYY-MM-DD) or a date-time with its UTC offset, "
            'got "2026-03-01T10:00:00"',
            id="date-time-without-offset",
        ),
        pytest.param(
            {"field": "registered_at", "op": "within_last_days", "value": 0},
            "",
            'operator "within_last_days" takes a whole number of days greater than 0, got 0',
            id="within-zero-days",
        ),
        pytest.param(
            {"field": "registered_at", "op": "is_null", "value": "yes"},
            "",
            'operator "is_null" takes true or false, got "yes"',
            id="is-null-needs-boolean",
        ),
        pytest.param(
            {"all": []},
            "",
            '"all" group is empty; add at least one condition',
            id="empty-all",
        ),
        pytest.param(
            {"all": [CITY, {"any": []}]},
            "all[1]",
            '"any" group is empty; add at least one condition',
            id="empty-nested-any",
        ),
        pytest.param(
            {"any": CITY},
            "",
            '"any" must be a list of conditions or groups',
            id="group-not-a-list",
        ),
        pytest.param(
            {"all": [CITY, ["city", "eq", "Shanghai"]]},
            "all[1]",
            'expected a group ({"all": [...]}, {"any": [...]} or {"not": {...}}) '
            'or a condition ({"field": ..., "op": ..., "value": ...})',
            id="list-as-a-node",
        ),
        pytest.param(
            {"all": [CITY], "any": [CITY]},
            "",
            'expected a group ({"all": [...]}, {"any": [...]} or {"not": {...}}) '
            'or a condition ({"field": ..., "op": ..., "value": ...})',
            id="two-shapes-in-one-node",
        ),
        pytest.param(
            {"field": "city", "op": "eq", "value": "Shanghai", "window": {"last_days": 30}},
            "",
            'field "city" takes no window',
            id="window-on-a-profile-field",
        ),
        pytest.param(
            {"field": "order_count", "op": "gte", "value": 1, "window": {"last_days": 0}},
            "",
            'window "last_days" must be a whole number of days greater than 0, got 0',
            id="window-zero-days",
        ),
        pytest.param(
            {"field": "order_count", "op": "gte", "value": 1, "window": {"last_days": -3}},
            "",
            'window "last_days" must be a whole number of days greater than 0, got -3',
            id="window-negative-days",
        ),
        pytest.param(
            {
                "field": "order_count",
                "op": "gte",
                "value": 1,
                "window": {"from": "2026-02-01", "to": "2026-01-01"},
            },
            "",
            'window "from" 2026-02-01 is after "to" 2026-01-01',
            id="window-from-after-to",
        ),
        pytest.param(
            {
                "field": "order_count",
                "op": "gte",
                "value": 1,
                "window": {"from": "1 Feb", "to": "2026-03-01"},
            },
            "",
            'window "from" must be a date (YYYY-MM-DD), got "1 Feb"',
            id="window-bad-date",
        ),
        pytest.param(
            {
                "field": "order_count",
                "op": "gte",
                "value": 1,
                "window": {"last_days": 30, "from": "2026-01-01"},
            },
            "",
            'window must be {"last_days": N} or {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}',
            id="window-two-shapes",
        ),
        pytest.param(
            {"field": "order_count", "op": "gte", "value": 1, "kind": "visit"},
            "",
            'field "order_count" takes no event kind',
            id="kind-on-a-purchase-field",
        ),
        pytest.param(
            {"field": "event_count", "op": "gte", "value": 1, "kind": "dance"},
            "",
            'kind "dance" is not an event kind (expected one of visit, login, favorite, '
            "add_to_cart, store_visit, share, review, complaint, return_request)",
            id="unknown-event-kind",
        ),
        pytest.param(
            {"field": "event_count", "op": "gte", "value": 1, "category": "nuts"},
            "",
            'field "event_count" takes no "category"',
            id="purchase-scope-on-events",
        ),
        pytest.param(
            {"field": "order_count", "op": "gte", "value": 1, "store": ""},
            "",
            '"store" must be non-empty text, got ""',
            id="blank-store-scope",
        ),
        pytest.param(
            {"field": "order_count", "op": "gte", "value": 1, "window": {"last_days": 36601}},
            "",
            'window "last_days" must be at most 36600 days',
            id="window-longer-than-a-century",
        ),
        pytest.param(
            {"field": "registered_at", "op": "within_last_days", "value": 10**6},
            "",
            "value must be at most 36600 days",
            id="within-more-than-a-century",
        ),
        pytest.param(
            {"field": "days_since_last_order", "op": "gt", "value": 40000},
            "",
            "value must be at most 36600, got 40000",
            id="days-since-more-than-a-century",
        ),
        pytest.param(
            {"field": "points", "op": "gt", "value": 10**12},
            "",
            "value must be at most 1000000000",
            id="huge-number",
        ),
        pytest.param(
            {"field": "registered_at", "op": "after", "value": "9999-12-31"},
            "",
            "value must be a date (YYYY-MM-DD) or a date-time with its UTC offset, "
            'got "9999-12-31"',
            id="date-out-of-range",
        ),
        pytest.param(
            {"field": "in_segment", "op": "eq", "value": 999999},
            "",
            "segment 999999 does not exist",
            id="missing-segment",
        ),
    ],
)
def test_refuses_invalid_rules_pointing_at_the_node(rules, path, message):
    # given
    original = copy.deepcopy(rules)
    # when
    refused_path, refused_message = refusal(rules)
    # then
    assert (refused_path, refused_message) == (path, message)
    assert rules == original


def test_refuses_groups_nested_too_deep():
    # given: 17 levels of "not"
    rules = CITY
    for _ in range(17):
        rules = {"not": rules}
    # when
    path, message = refusal(rules)
    # then
    assert path == ".".join(["not"] * 17)
    assert message == "groups are nested more than 16 levels deep"


def test_refuses_a_segment_that_refers_to_itself():
    # given
    segment = Segment.objects.create(name="Shanghai", rules={"all": [CITY]})
    rules = {"all": [CITY, {"field": "in_segment", "op": "eq", "value": segment.pk}]}
    # when
    with pytest.raises(SegmentCycleError) as caught:
        parse_rule_tree(rules, segment_id=segment.pk)
    # then
    assert caught.value.path == "all[1]"
    assert caught.value.message == 'in_segment would make a cycle: "Shanghai" -> "Shanghai"'


def test_refuses_a_cycle_through_another_segment():
    # given: B's rules reference A; A is being edited to reference B
    first = Segment.objects.create(name="A", rules={"all": [CITY]})
    second = Segment.objects.create(
        name="B", rules={"field": "in_segment", "op": "eq", "value": first.pk}
    )
    rules = {"any": [CITY, {"not": {"field": "in_segment", "op": "in", "value": [second.pk]}}]}
    # when
    path, message = refusal(rules, segment_id=first.pk)
    # then
    assert path == "any[1].not"
    assert message == 'in_segment would make a cycle: "A" -> "B" -> "A"'


def test_refuses_a_cycle_among_stored_segments():
    # given: two stored segments that reference each other (written around the parser)
    first = Segment.objects.create(name="A", rules={"all": [CITY]})
    second = Segment.objects.create(
        name="B", rules={"field": "in_segment", "op": "eq", "value": first.pk}
    )
    first.rules = {"field": "in_segment", "op": "eq", "value": second.pk}
    first.save(update_fields=["rules"])
    # when: a new segment's preview references A
    path, message = refusal({"field": "in_segment", "op": "eq", "value": first.pk})
    # then
    assert (path, message) == ("", 'in_segment would make a cycle: "A" -> "B" -> "A"')


def test_refuses_a_reference_to_a_segment_whose_rules_no_longer_validate():
    # given: B references a segment that has since been deleted
    gone = Segment.objects.create(name="Gone", rules={"all": [CITY]})
    broken = Segment.objects.create(
        name="Broken", rules={"all": [{"field": "in_segment", "op": "eq", "value": gone.pk}]}
    )
    gone_pk = gone.pk
    gone.delete()
    # when
    path, message = refusal({"all": [{"field": "in_segment", "op": "eq", "value": broken.pk}]})
    # then
    assert path == "all[0]"
    assert (
        message == f'segment "Broken" has invalid rules: all[0]: segment {gone_pk} does not exist'
    )


def test_accepts_references_to_dynamic_and_snapshot_segments():
    # given: a diamond (both branches reference the same snapshot) is not a cycle
    snapshot = Segment.objects.create(name="Uploaded", kind=SegmentKind.SNAPSHOT)
    left = Segment.objects.create(
        name="Left", rules={"field": "in_segment", "op": "eq", "value": snapshot.pk}
    )
    rules = {
        "all": [
            {"field": "in_segment", "op": "eq", "value": left.pk},
            {"field": "in_segment", "op": "eq", "value": snapshot.pk},
        ]
    }
    # when
    node = parse_rule_tree(rules)
    # then
    first, second = node.children
    assert [(ref.name, ref.kind) for ref in first.references] == [("Left", "dynamic")]
    assert first.references[0].rule_tree == Condition(
        field="in_segment",
        op=Operator.EQ,
        value=snapshot.pk,
        path="",
        references=second.references,
    )
    assert [(ref.name, ref.kind, ref.rule_tree) for ref in second.references] == [
        ("Uploaded", "snapshot", None)
    ]


def test_parses_into_typed_immutable_nodes_with_paths():
    # given
    rules = {
        "all": [
            {"field": "order_count", "op": "gte", "value": 3, "window": {"last_days": 30}},
            {
                "any": [
                    {"field": "city", "op": "in", "value": ["Shanghai", "Beijing"]},
                    {"field": "tag", "op": "has", "value": "vip"},
                ]
            },
            {"not": {"field": "lifecycle_stage", "op": "in", "value": ["churned", "silent"]}},
            {
                "field": "total_spent",
                "op": "between",
                "value": ["10.50", 200],
                "category": "nuts",
                "window": {"from": "2026-01-01", "to": "2026-01-31"},
            },
        ]
    }
    original = copy.deepcopy(rules)
    # when
    node = parse_rule_tree(rules)
    # then
    assert node == AllOf(
        path="",
        children=(
            Condition(
                field="order_count",
                op=Operator.GTE,
                value=3,
                path="all[0]",
                window=Window(last_days=30),
            ),
            AnyOf(
                path="all[1]",
                children=(
                    Condition(
                        field="city",
                        op=Operator.IN,
                        value=("Shanghai", "Beijing"),
                        path="all[1].any[0]",
                    ),
                    Condition(field="tag", op=Operator.HAS, value="vip", path="all[1].any[1]"),
                ),
            ),
            Not(
                path="all[2]",
                child=Condition(
                    field="lifecycle_stage",
                    op=Operator.IN,
                    value=("churned", "silent"),
                    path="all[2].not",
                ),
            ),
            Condition(
                field="total_spent",
                op=Operator.BETWEEN,
                value=(Decimal("10.50"), Decimal(200)),
                path="all[3]",
                window=Window(start=date(2026, 1, 1), end=date(2026, 1, 31)),
                scope=PurchaseScope(category="nuts"),
            ),
        ),
    )
    assert rules == original
    with pytest.raises(AttributeError):
        node.path = "changed"


def test_canonical_rules_sort_keys_fill_defaults_and_normalise_values():
    # given: two spellings of the same rule
    first = {
        "all": [
            {"value": ["Shanghai", "Beijing", "Shanghai"], "op": "in", "field": "city"},
            {"field": "total_spent", "op": "gte", "value": 10.5},
            {"field": "event_count", "op": "gte", "value": 2, "window": {"from": "2026-01-01"}},
        ]
    }
    second = {
        "all": [
            {"field": "city", "op": "in", "value": ["Beijing", "Shanghai"]},
            {
                "field": "total_spent",
                "op": "gte",
                "value": "10.50",
                "window": None,
                "category": None,
            },
            {
                "field": "event_count",
                "op": "gte",
                "value": 2,
                "kind": None,
                "window": {"from": "2026-01-01", "to": None},
            },
        ]
    }
    # when
    canonical = canonical_rules(first)
    # then
    assert canonical == canonical_rules(second)
    assert canonical == {
        "all": [
            {"field": "city", "op": "in", "value": ["Beijing", "Shanghai"]},
            {
                "category": None,
                "channel": None,
                "field": "total_spent",
                "op": "gte",
                "sku": None,
                "store": None,
                "value": "10.5",
                "window": None,
            },
            {
                "field": "event_count",
                "kind": None,
                "op": "gte",
                "value": 2,
                "window": {"from": "2026-01-01", "to": None},
            },
        ]
    }
    assert list(canonical["all"][1]) == sorted(canonical["all"][1])
    assert canonical_rules(canonical) == canonical
