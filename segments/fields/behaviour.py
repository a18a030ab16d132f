"""Behaviour fields: counts of behaviour events (visits, add-to-cart, ...).

Events have no stored per-customer column, so every condition reads the events that
occurred at or before as_of, as a semi-join on Customer.pk (fields.aggregates).
"""

from typing import TYPE_CHECKING

from django.db.models import Count, Q

from crm.models import BehaviourEvent
from segments.catalogue import CompileContext, register_field
from segments.enums import FieldFamily, Operator, ValueType
from segments.fields.aggregates import number_condition

if TYPE_CHECKING:
    from segments.rules import Condition

Op = Operator


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
)
def _compile_event_count(condition: "Condition", context: CompileContext) -> Q:
    events = BehaviourEvent.objects.filter(context.window_filter("occurred_at", condition.window))
    if condition.kind is not None:
        events = events.of_kind(condition.kind)
    return number_condition(
        events, customer="customer", measure=Count("pk"), op=condition.op, value=condition.value
    )
