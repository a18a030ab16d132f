"""A rule tree as one English sentence, for segment lists, previews and audit entries.

"Customers (in Shanghai or tagged vip) and who ordered at least 3 times in the last 30 days".
Groups nested in other groups are parenthesised so the sentence keeps the tree's meaning.
Words come from the field catalogue (labels, choice labels); a few fields read better with
their own phrasing, listed in PHRASES.
"""

import calendar
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from crm.enums import EventKind
from segments.catalogue import FIELDS
from segments.enums import Operator
from segments.rules import AllOf, AnyOf, Condition, Node, Not

Op = Operator
# Negations that are exact complements, so "not (X is a)" can read "X is not a".
EXACT_NEGATIONS = {
    Op.EQ: Op.NE,
    Op.NE: Op.EQ,
    Op.IN: Op.NOT_IN,
    Op.NOT_IN: Op.IN,
    Op.HAS: Op.NOT_HAS,
    Op.NOT_HAS: Op.HAS,
}


def describe_rule_tree(node: Node) -> str:
    """A readable sentence saying which customers the tree selects."""
    return f"Customers {_phrase(node)}"


def _phrase(node: Node) -> str:
    match node:
        case AllOf(children=children):
            return " and ".join(_nested(child) for child in children)
        case AnyOf(children=children):
            return " or ".join(_nested(child) for child in children)
        case Not(child=Condition() as condition) if condition.op in EXACT_NEGATIONS:
            return _condition(replace(condition, op=EXACT_NEGATIONS[condition.op]))
        case Not(child=Condition(op=Op.IS_NULL) as condition):
            return _condition(replace(condition, value=not condition.value))
        case Not(child=child):
            return f"not ({_phrase(child)})"
        case Condition():
            return _condition(node)
    raise TypeError(f"not a rule node: {node!r}")


def _nested(node: Node) -> str:
    if isinstance(node, AllOf | AnyOf) and len(node.children) > 1:
        return f"({_phrase(node)})"
    return _phrase(node)


def _condition(condition: Condition) -> str:
    phrase = PHRASES.get(condition.field, _generic)(condition)
    return phrase + _scope(condition) + _window(condition)


def _generic(condition: Condition) -> str:
    label = FIELDS[condition.field].label
    # "RFM group" keeps its acronym; "Lifecycle stage" reads "lifecycle stage".
    label = label if label[:2].isupper() else label.lower()
    return f"whose {label} {_is(condition)}"


def _is(condition: Condition) -> str:
    """The verb phrase of the generic form: "is at least 3", "is Shanghai or Beijing"."""
    op, value = condition.op, condition.value
    show = _shower(condition)
    match op:
        case Op.IS_NULL:
            return "is unknown" if value else "is known"
        case Op.IN:
            return f"is {_either(value, show)}"
        case Op.NOT_IN:
            return f"is {_neither(value, show)}"
        case Op.WITHIN_LAST_DAYS:
            return f"is within the last {_days(value)}"
        case Op.BETWEEN:
            return f"is between {show(value[0])} and {show(value[1])}"
    return f"{Op(op).label} {show(value)}"


def _shower(condition: Condition) -> Callable[[Any], str]:
    choices = dict(FIELDS[condition.field].choices)

    def show(value: Any) -> str:
        if value in choices:
            return str(choices[value]).lower()
        return _text(value)

    return show


def _text(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _either(values: Sequence[Any], show: Callable[[Any], str] = _text) -> str:
    shown = [show(value) for value in values]
    if len(shown) <= 2:
        return " or ".join(shown)
    return "one of " + ", ".join(shown)


def _neither(values: Sequence[Any], show: Callable[[Any], str] = _text) -> str:
    shown = [show(value) for value in values]
    if len(shown) == 1:
        return f"not {shown[0]}"
    if len(shown) == 2:
        return f"neither {shown[0]} nor {shown[1]}"
    return "none of " + ", ".join(shown)


def _days(days: int) -> str:
    """For "in the last day" / "in the last 30 days"."""
    return "day" if days == 1 else f"{days} days"


def _day_count(days: int) -> str:
    return "1 day" if days == 1 else f"{days} days"


def _window(condition: Condition) -> str:
    window = condition.window
    if window is None:
        return ""
    if window.last_days is not None:
        return f" in the last {_days(window.last_days)}"
    if window.start and window.end:
        return f" from {window.start.isoformat()} to {window.end.isoformat()}"
    if window.start:
        return f" since {window.start.isoformat()}"
    return f" until {window.end.isoformat()}"


def _scope(condition: Condition) -> str:
    scope = condition.scope
    if scope is None:
        return ""
    parts = []
    if scope.category:
        parts.append(f" in category {scope.category}")
    if scope.sku:
        parts.append(f" of SKU {scope.sku}")
    if scope.store:
        parts.append(f" in store {scope.store}")
    if scope.channel:
        parts.append(f" through channel {scope.channel}")
    return "".join(parts)


def _amount(op: Operator, value: Any, unit: Callable[[Any], str] = _text) -> str:
    """ "at least 3", "fewer than 2", "between 1 and 3" (ne/eq read "not exactly"/"exactly")."""
    match op:
        case Op.EQ:
            return f"exactly {unit(value)}"
        case Op.NE:
            return f"not exactly {unit(value)}"
        case Op.GT:
            return f"more than {unit(value)}"
        case Op.GTE:
            return f"at least {unit(value)}"
        case Op.LT:
            return f"fewer than {unit(value)}"
        case Op.LTE:
            return f"at most {unit(value)}"
        case Op.BETWEEN:
            return f"between {_text(value[0])} and {unit(value[1])}"
    raise ValueError(f"{op} is not a comparison")


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _order_count(condition: Condition) -> str:
    if (condition.op, condition.value) in ((Op.EQ, 0), (Op.LTE, 0), (Op.LT, 1)):
        return "who placed no order"
    return f"who ordered {_amount(condition.op, condition.value, _times)}"


def _total_spent(condition: Condition) -> str:
    return f"who spent {_amount(condition.op, condition.value)}"


def _event_count(condition: Condition) -> str:
    kind = EventKind(condition.kind).label.lower() + " " if condition.kind else ""

    def events(count: int) -> str:
        return f"{count} {kind}{'event' if count == 1 else 'events'}"

    return f"with {_amount(condition.op, condition.value, events)}"


def _days_since_last_order(condition: Condition) -> str:
    if condition.op == Op.IS_NULL:
        return "who never ordered" if condition.value else "who have ordered"
    return f"whose last order was {_amount(condition.op, condition.value, _day_count)} ago"


def _city(condition: Condition) -> str:
    match condition.op:
        case Op.EQ:
            return f"in {condition.value}"
        case Op.NE:
            return f"not in {condition.value}"
        case Op.IN:
            return f"in {_either(condition.value)}"
        case Op.NOT_IN:
            return f"in {_neither(condition.value)}"
    return _generic(condition)


def _tag(condition: Condition) -> str:
    return f"{'tagged' if condition.op == Op.HAS else 'not tagged'} {condition.value}"


def _consent(condition: Condition) -> str:
    verb = "who consented to" if condition.op == Op.HAS else "who have not consented to"
    return f"{verb} {condition.value}"


def _is_member(condition: Condition) -> str:
    return "who are members" if condition.value else "who are not members"


def _weekend_buyer(condition: Condition) -> str:
    if condition.op == Op.IS_NULL:
        return "whose weekend buying is unknown" if condition.value else "who have bought"
    return "who buy mostly at weekends" if condition.value else "who buy mostly on weekdays"


def _birth_month(condition: Condition) -> str:
    if condition.op == Op.IS_NULL:
        return _generic(condition)

    def month(number: int) -> str:
        return calendar.month_name[number]

    values = condition.value if isinstance(condition.value, tuple) else (condition.value,)
    positive = condition.op in (Op.EQ, Op.IN)
    return f"{'born' if positive else 'not born'} in {_either(values, month)}"


def _bought(what: str) -> Callable[[Condition], str]:
    def phrase(condition: Condition) -> str:
        values = condition.value if isinstance(condition.value, tuple) else (condition.value,)
        verb = "who bought" if condition.op in (Op.EQ, Op.IN) else "who did not buy"
        return f"{verb} {what} {_either(values)}"

    return phrase


def _in_segment(condition: Condition) -> str:
    names = [f'"{reference.name}"' for reference in condition.references]
    positive = condition.op in (Op.EQ, Op.IN)
    return f"{'in' if positive else 'not in'} segment {_either(names)}"


PHRASES: dict[str, Callable[[Condition], str]] = {
    "order_count": _order_count,
    "total_spent": _total_spent,
    "event_count": _event_count,
    "days_since_last_order": _days_since_last_order,
    "city": _city,
    "tag": _tag,
    "consent": _consent,
    "is_member": _is_member,
    "weekend_buyer": _weekend_buyer,
    "birth_month": _birth_month,
    "bought_category": _bought("from category"),
    "bought_sku": _bought("SKU"),
    "bought_in_store": _bought("in store"),
    "in_segment": _in_segment,
}
