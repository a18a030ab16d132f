"""Label fields: lifecycle stage, RFM group, value tier, preferences, segment membership.

lifecycle_stage follows as_of: with an explicit as_of it is the stage of the last recorded
StageChange at or before as_of (none: potential, the stage every customer starts in).
The other labels exist only as today's values on Customer (crm.services.metrics keeps no
history of them), so they read the stored columns whatever the as_of; the catalogue says so
(`follows_as_of` False) for the builder to show.
"""

import operator
from decimal import Decimal
from functools import reduce
from typing import TYPE_CHECKING

from django.db.models import Exists, OuterRef, Q

from crm.enums import LifecycleStage, RfmGroup, ValueTier
from crm.models import StageChange
from segments.catalogue import CompileContext, register_field
from segments.enums import FieldFamily, Operator, SegmentKind, ValueType
from segments.fields.lookups import column_condition
from segments.models import SegmentMember

if TYPE_CHECKING:
    from segments.rules import Condition, SegmentReference

Op = Operator
CHOICE = frozenset({Op.EQ, Op.NE, Op.IN, Op.NOT_IN})
TEXT = frozenset({Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.IS_NULL})
CURRENT_ONLY = " Today's value, whatever the evaluation date."


@register_field(
    name="lifecycle_stage",
    label="Lifecycle stage",
    family=FieldFamily.LABELS,
    value_type=ValueType.CHOICE,
    operators=CHOICE,
    choices=tuple(LifecycleStage.choices),
)
def _compile_lifecycle_stage(condition: "Condition", context: CompileContext) -> Q:
    if context.as_of_is_now:
        return column_condition(condition, context, column="lifecycle_stage")
    stages = set(condition.value) if condition.op == Op.IN else {condition.value}
    changes = StageChange.objects.filter(changed_at__lte=context.as_of)
    # Ties on changed_at (two recomputes at the same as_of) go to the later row.
    superseded = changes.filter(customer=OuterRef("customer")).filter(
        Q(changed_at__gt=OuterRef("changed_at"))
        | Q(changed_at=OuterRef("changed_at"), pk__gt=OuterRef("pk"))
    )
    latest = changes.filter(~Exists(superseded))
    matched = Q(pk__in=latest.filter(to_stage__in=stages).values("customer"))
    if LifecycleStage.POTENTIAL in stages:
        matched |= ~Q(pk__in=changes.values("customer"))
    return matched


def _stored_label(
    name: str,
    label: str,
    *,
    value_type: ValueType,
    operators: frozenset[Operator],
    nullable: bool = False,
    help_text: str = "",
    **options,
) -> None:
    def compile_label(condition: "Condition", context: CompileContext) -> Q:
        return column_condition(condition, context, column=name, nullable=nullable)

    register_field(
        name=name,
        label=label,
        family=FieldFamily.LABELS,
        value_type=value_type,
        operators=operators,
        follows_as_of=False,
        help_text=help_text + CURRENT_ONLY,
        **options,
    )(compile_label)


_stored_label(
    "rfm_group",
    "RFM group",
    value_type=ValueType.CHOICE,
    operators=CHOICE | {Op.IS_NULL},
    choices=tuple(RfmGroup.choices),
    help_text="Named group from the recency and frequency scores; unknown without orders.",
)
_stored_label(
    "value_tier",
    "Value tier",
    value_type=ValueType.CHOICE,
    operators=CHOICE,
    choices=tuple(ValueTier.choices),
    help_text="From total spent and the thresholds in the lifecycle settings.",
)
_stored_label(
    "preferred_category",
    "Preferred category",
    value_type=ValueType.TEXT,
    operators=TEXT,
    help_text="The category with the largest share of spend.",
)
_stored_label(
    "preferred_channel",
    "Preferred channel",
    value_type=ValueType.TEXT,
    operators=TEXT,
    help_text="The channel of most paid orders.",
)
_stored_label(
    "promotion_sensitivity",
    "Promotion sensitivity",
    value_type=ValueType.DECIMAL,
    operators=frozenset({Op.EQ, Op.NE, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN, Op.IS_NULL}),
    nullable=True,
    minimum=Decimal(0),
    maximum=Decimal(1),
    help_text="Share of paid orders that used a coupon, 0 to 1; unknown without orders.",
)
_stored_label(
    "weekend_buyer",
    "Weekend buyer",
    value_type=ValueType.BOOLEAN,
    operators=frozenset({Op.EQ, Op.IS_NULL}),
    nullable=True,
    help_text="True when most paid orders fall on a weekend; unknown without orders.",
)


@register_field(
    name="in_segment",
    label="In segment",
    family=FieldFamily.LABELS,
    value_type=ValueType.SEGMENT,
    operators=frozenset({Op.EQ, Op.NE, Op.IN, Op.NOT_IN}),
    minimum=1,
    help_text="Member of another segment (a dynamic one as of the same date).",
)
def _compile_in_segment(condition: "Condition", context: CompileContext) -> Q:
    """A dynamic segment is its own rules compiled in the same context (inlined, so a cycle
    was refused when parsing); a snapshot is its frozen member list."""
    return reduce(operator.or_, (_membership(ref, context) for ref in condition.references))


def _membership(reference: "SegmentReference", context: CompileContext) -> Q:
    if reference.kind == SegmentKind.SNAPSHOT:
        members = SegmentMember.objects.filter(
            segment_id=reference.segment_id, customer=OuterRef("pk")
        )
        return Q(Exists(members))
    return context.compile(reference.rule_tree)
