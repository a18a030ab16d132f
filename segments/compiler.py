"""The one rule compiler: a parsed rule tree to a single Q over Customer (STYLE §2.4).

Invariant: every leaf compiles to a two-valued condition (never SQL NULL): plain lookups
carry an explicit IS NOT NULL on nullable columns, aggregates are semi-joins on the primary
key, existence is EXISTS. So Not is the exact complement of its child, and negation happens
in one place, here: `ne`, `not_in`, `not_has` and `is_null false` are compiled as NOT of
`eq`, `in`, `has` and `is_null true`. Compile functions only narrow the Customer set; they
never join in rows that would repeat a customer, and nothing is evaluated in Python.

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
from segments.rules import NEGATED_OPERATORS, AllOf, AnyOf, Condition, Node, Not


def compile_rule_tree(node: Node, *, as_of: datetime, as_of_is_now: bool = False) -> Q:
    """Return a Q over Customer selecting exactly the customers matching `node` at `as_of`.

    Pure: builds the query without running it. Only orders and events placed at or before
    `as_of` count; windows and dates are read in TIME_ZONE. `as_of_is_now` may be True only
    when `as_of` is the present (the stored metric columns are today's values).
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be an aware datetime")
    context = CompileContext(
        as_of=as_of,
        as_of_is_now=as_of_is_now,
        time_zone=ZoneInfo(settings.TIME_ZONE),
        compile_node=_compile,
    )
    return _compile(node, context)


def _compile(node: Node, context: CompileContext) -> Q:
    match node:
        case AllOf(children=children):
            return reduce(operator.and_, (_compile(child, context) for child in children))
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
