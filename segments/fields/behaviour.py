"""Behaviour fields: counts of behaviour events (visits, add-to-cart, ...).

Events have no stored per-customer column, so every condition reads the events that
occurred at or before as_of, as a semi-join on Customer.pk (fields.aggregates).
"""

from typing import TYPE_CHECKING

from django.db.models import Count, Q

from crm.models import BehaviourEvent
from segments.catalogue import CompileContext, register_field
from segments.enums import FieldFamily, Operator, ValueType
from segments.fields.aggregates import AggregateTerm, RowSet, number_condition, number_term

if TYPE_CHECKING:
    from segments.rules import Condition

Op = Operator


def _event_count_term(condition: "Condition", context: CompileContext) -> AggregateTerm:
    events = BehaviourEvent.objects.filter(context.window_filter("occurred_at", condition.window))
    if condition.kind is not None:
        events = events.of_kind(condition.kind)
    return number_term(
        events,
        row_set=RowSet(
            table="events", period=context.window_range(condition.window), scope=condition.kind
        ),
        customer="customer",
        measure=Count("pk"),
        op=condition.op,
        value=condition.value,
    )


@register_field(
    name="event_count",
    label="Number of events",
    family=FieldFamily.BEHAVIOUR,
    value_type=ValueType.INTEGER,
    operators=frozenset({Op.EQ, Op.NE, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN}),
    takes_window=True,
    takes_kind=True,
    minimum=0,
    help_text="Behaviour events of one kind (or of any kind), optionally in a window.",
    merge_term=_event_count_term,
)
def _compile_event_count(condition: "Condition", context: CompileContext) -> Q:
    term = _event_count_term(condition, context)
    return number_condition(term, op=condition.op, value=condition.value)
