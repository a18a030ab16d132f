"""The one rule compiler: a parsed rule tree to a single Q over Customer (STYLE §2.4).

Invariant: every leaf compiles to a two-valued condition (never SQL NULL): plain lookups
carry an explicit IS NOT NULL on nullable columns, aggregates are semi-joins on the primary
key, existence is EXISTS. So Not is the exact complement of its child, and negation happens
in one place, here: `ne`, `not_in`, `not_has` and `is_null false` are compiled as NOT of
`eq`, `in`, `has` and `is_null true`. Compile functions only narrow the Customer set; they
never join in rows that would repeat a customer, and nothing is evaluated in Python.

Within an AllOf, sibling conditions on per-customer aggregates of the same rows (the same
window and scope, e.g. "3+ orders" and "500+ spent" in the last 180 days; NOT of one, or a
negative operator, included) share one `pk IN (... GROUP BY customer HAVING ... AND ...)`
instead of one semi-join each (segments.fields.aggregates.merged_condition: exact for
customers without rows too, and never NULL, so the invariant above holds).

`as_of_is_now` (decided by the caller, e.g. an API request without an explicit as_of) lets
unwindowed purchase conditions and lifecycle_stage read the metric columns stored on
Customer; with an explicit as_of they are rebuilt from orders and stage changes at or before
as_of (see segments.fields.purchases and segments.fields.labels).
"""

import operator
from dataclasses import replace
from datetime import datetime
from functools import reduce
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q

from segments.catalogue import FIELDS, CompileContext
from segments.enums import Operator
from segments.fields.aggregates import AggregateTerm, mergeable_groups, merged_condition
from segments.rules import NEGATED_OPERATORS, AllOf, AnyOf, Condition, Node, Not


def compile_rule_tree(
    node: Node, *, as_of: datetime, as_of_is_now: bool = False, only_customer: str | None = None
) -> Q:
    """Return a Q over Customer selecting exactly the customers matching `node` at `as_of`.

    Pure: builds the query without running it. Only orders and events placed at or before
    `as_of` count; windows and dates are read in TIME_ZONE. `as_of_is_now` may be True only
    when `as_of` is the present (the stored metric columns are today's values).
    `only_customer`: the Q is exact for that customer (customer_id) only, and the caller
    limits the query to them (see CompileContext).
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be an aware datetime")
    context = CompileContext(
        as_of=as_of,
        as_of_is_now=as_of_is_now,
        time_zone=ZoneInfo(settings.TIME_ZONE),
        compile_node=_compile,
        only_customer=only_customer,
    )
    return _compile(node, context)


def _compile(node: Node, context: CompileContext) -> Q:
    match node:
        case AllOf(children=children):
            return reduce(operator.and_, _compile_all_of(children, context))
        case AnyOf(children=children):
            return reduce(operator.or_, (_compile(child, context) for child in children))
        case Not(child=child):
            return ~_compile(child, context)
        case Condition(op=op) if op in NEGATED_OPERATORS:
            return ~_compile(replace(node, op=NEGATED_OPERATORS[op]), context)
        case Condition(op=Operator.IS_NULL, value=False):
            return ~_compile(replace(node, value=True), context)
        case Condition():
            return FIELDS[node.field].compile(node, context)
    raise TypeError(f"not a rule node: {node!r}")


def _compile_all_of(children: tuple[Node, ...], context: CompileContext) -> list[Q]:
    """The children's conditions, with sibling aggregate terms over the same rows merged
    into one semi-join (placed where the first of them was)."""
    terms = {
        index: term
        for index, child in enumerate(children)
        if (term := _aggregate_term(child, context)) is not None
    }
    indexes = list(terms)
    merged: dict[int, Q] = {}
    absorbed: set[int] = set()
    for row_set, group in mergeable_groups([terms[index] for index in indexes]):
        first, *others = [indexes[position] for position in group]
        merged[first] = merged_condition(
            [terms[first], *(terms[index] for index in others)], row_set=row_set
        )
        absorbed.update(others)
    return [
        merged[index] if index in merged else _compile(child, context)
        for index, child in enumerate(children)
        if index not in absorbed
    ]


def _aggregate_term(node: Node, context: CompileContext) -> AggregateTerm | None:
    """The condition as an aggregate term (NOT of one negated), if its field has one."""
    match node:
        case Not(child=child):
            term = _aggregate_term(child, context)
            return term.negated() if term is not None else None
        case Condition(op=op) if op in NEGATED_OPERATORS:
            term = _aggregate_term(replace(node, op=NEGATED_OPERATORS[op]), context)
            return term.negated() if term is not None else None
        case Condition(op=Operator.IS_NULL):
            return None
        case Condition(field=name) if FIELDS[name].merge_term is not None:
            return FIELDS[name].merge_term(node, context)
    return None
