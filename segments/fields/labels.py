"""Label fields: lifecycle stage, new/returning, value tier, RFM, preferences, segment
membership.

Every label here is derived from orders and follows as_of, through its one definition in
crm.measures (SPEC §2: stored columns are a cache of today's values, never the source of a
past answer):
- `as_of_is_now`: the column stored on Customer by crm.services.metrics (the fastest).
- otherwise, the definition evaluated over the paid orders at or before as_of, with today's
  lifecycle settings:
  - the per-customer aggregates (stage, new/returning, value tier, weekend buyer, promotion
    sensitivity) are AggregateTerms over those orders, so sibling conditions on them and on
    unwindowed purchase fields share one GROUP BY (segments.fields.aggregates);
  - the preferences and RFM (ranked per customer, or tiled over every buyer) are semi-joins
    on their crm.measures query.
A customer without a paid order at as_of has the measure's WITHOUT_ORDERS value (stage
potential, tier none, unknown preferences and RFM), decided while compiling.
"""

import operator
from collections.abc import Callable
from decimal import Decimal
from functools import reduce
from typing import TYPE_CHECKING

from django.db.models import (
    BooleanField,
    CharField,
    DecimalField,
    Exists,
    Expression,
    F,
    OuterRef,
    Q,
)
from django.db.models.expressions import RawSQL

from crm import measures
from crm.enums import Daypart, LifecycleStage, RfmGroup, ValueTier
from crm.measures import OrderColumns, Sql
from crm.models import Order
from segments.catalogue import CompileContext, register_field
from segments.enums import FieldFamily, Operator, SegmentKind, ValueType
from segments.fields.aggregates import (
    MEASURE,
    AggregateTerm,
    RowSet,
    aggregate_condition,
    customers_with_rows,
)
from segments.fields.lookups import (
    SURROUNDING_SPACE,
    code_column_condition,
    column_condition,
    comparison,
    zero_matches,
)
from segments.models import SegmentMember

if TYPE_CHECKING:
    from segments.rules import Condition, SegmentReference

Op = Operator
CHOICE = frozenset({Op.EQ, Op.NE, Op.IN, Op.NOT_IN})
TEXT = frozenset({Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.IS_NULL})
SCORE = frozenset({Op.EQ, Op.NE, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN, Op.IN, Op.NOT_IN})


class OrderMeasure(Expression):
    """A crm.measures aggregate of one customer's paid orders, in a grouped Order query."""

    contains_aggregate = True

    def __init__(self, build: Callable[[OrderColumns], Sql], output_field) -> None:
        super().__init__(output_field=output_field)
        self.build = build
        self.columns = [F("placed_at"), F("amount"), F("coupon_code")]

    def get_source_expressions(self):
        return self.columns

    def set_source_expressions(self, expressions):
        self.columns = list(expressions)

    def get_group_by_cols(self):
        return []

    def as_sql(self, compiler, connection):
        names = []
        for column in self.columns:
            sql, params = compiler.compile(column)
            if params:
                raise ValueError("an order column compiled with parameters")
            names.append(sql)
        measure = self.build(OrderColumns(*names))
        return measure.text, list(measure.params)


def _paid_orders_up_to(context: CompileContext):
    return Order.objects.paid().filter(context.window_filter("placed_at", None))


def _without_orders_matches(name: str, op: Operator, value) -> bool:
    """Whether a customer without a paid order (the measure's WITHOUT_ORDERS value) meets
    a positive comparison."""
    nothing = measures.WITHOUT_ORDERS[name]
    return nothing is not None and zero_matches(op, value, zero=nothing)


def _order_measure_field(
    name: str,
    label: str,
    build: Callable[[OrderColumns, CompileContext], Sql],
    *,
    value_type: ValueType,
    operators: frozenset[Operator],
    output_field,
    nullable: bool = False,
    **options,
) -> None:
    """A label that is one aggregate of a customer's paid orders (see the docstring)."""

    def term(condition: "Condition", context: CompileContext) -> AggregateTerm | None:
        if context.as_of_is_now or condition.op == Op.IS_NULL:
            return None
        op, value = condition.op, condition.value
        return AggregateTerm(
            rows=_paid_orders_up_to(context),
            row_set=RowSet(table="orders", period=context.window_range(None)),
            customer="customer",
            measure=OrderMeasure(lambda columns: build(columns, context), output_field),
            matched=lambda alias: comparison(alias, op, value),
            matches_customers_without_rows=_without_orders_matches(name, op, value),
        )

    def compile_measure(condition: "Condition", context: CompileContext) -> Q:
        if context.as_of_is_now:
            return column_condition(condition, context, column=name, nullable=nullable)
        if condition.op == Op.IS_NULL:
            # Unknown exactly for the customers without a paid order at as_of.
            return ~customers_with_rows(_paid_orders_up_to(context), customer="customer")
        found = term(condition, context)
        return aggregate_condition(
            found.rows,
            customer=found.customer,
            measure=found.measure,
            matched=found.matched(MEASURE),
            matches_customers_without_rows=found.matches_customers_without_rows,
        )

    register_field(
        name=name,
        label=label,
        family=FieldFamily.LABELS,
        value_type=value_type,
        operators=operators,
        merge_term=term,
        **options,
    )(compile_measure)


def _customer_values_field(
    name: str,
    label: str,
    query: Callable[[CompileContext], Sql],
    *,
    value_type: ValueType,
    operators: frozenset[Operator],
    nullable: bool = False,
    **options,
) -> None:
    """A label ranked or tiled over many orders or customers: a semi-join on the crm.measures
    query of (customer_id, value) rows, which holds only the customers with a known value.
    A text label (a category, a channel) is a code: any letter case, trimmed."""
    is_code = value_type == ValueType.TEXT

    def compile_values(condition: "Condition", context: CompileContext) -> Q:
        if context.as_of_is_now and is_code:
            return code_column_condition(condition, column=name)
        if context.as_of_is_now:
            return column_condition(condition, context, column=name, nullable=nullable)
        values = query(context)
        if condition.op == Op.IS_NULL:
            return ~_customers_in(values, "")
        compare = _sql_code_comparison if is_code else _sql_comparison
        matched, params = compare(condition.op, condition.value)
        if _without_orders_matches(name, condition.op, condition.value):
            return ~_customers_in(values, f"NOT ({matched})", params)
        return _customers_in(values, matched, params)

    register_field(
        name=name,
        label=label,
        family=FieldFamily.LABELS,
        value_type=value_type,
        operators=operators,
        **options,
    )(compile_values)


def _customers_in(values: Sql, condition: str, params: tuple = ()) -> Q:
    where = f" WHERE {condition}" if condition else ""
    # The text comes from crm.measures and this module only; values are bound parameters.
    return Q(
        pk__in=RawSQL(  # noqa: S611
            f"SELECT customer_id FROM ({values.text}) customer_values{where}",
            (*values.params, *params),
        )
    )


def _sql_code_comparison(op: Operator, value) -> tuple[str, tuple]:
    """eq / in on the text `value` column of a (customer_id, value) query, compared as
    fields.lookups.code() compares codes (any letter case, trimmed)."""
    values = list(value) if op == Op.IN else [value]
    wanted = ", ".join("lower(%s)" for _ in values)
    return f"lower(btrim(value, %s)) IN ({wanted})", (SURROUNDING_SPACE, *values)


def _sql_comparison(op: Operator, value) -> tuple[str, tuple]:
    """A positive operator on the `value` column of a (customer_id, value) query."""
    match op:
        case Op.EQ:
            return "value = %s", (value,)
        case Op.IN:
            return "value = ANY(%s)", (list(value),)
        case Op.GT | Op.GTE | Op.LT | Op.LTE:
            symbol = {Op.GT: ">", Op.GTE: ">=", Op.LT: "<", Op.LTE: "<="}[op]
            return f"value {symbol} %s", (value,)
        case Op.BETWEEN:
            return "value BETWEEN %s AND %s", tuple(value)
    raise ValueError(f"{op} is not a comparison")


_order_measure_field(
    "lifecycle_stage",
    "Lifecycle stage",
    lambda columns, context: measures.lifecycle_stage(
        columns, measures.current_thresholds(), as_of=context.as_of
    ),
    value_type=ValueType.CHOICE,
    operators=CHOICE,
    output_field=CharField(),
    choices=tuple(LifecycleStage.choices),
    help_text="From the paid orders up to the evaluation date and the lifecycle settings.",
)
_order_measure_field(
    "is_returning",
    "Returning customer",
    lambda columns, context: measures.is_returning(columns),
    value_type=ValueType.BOOLEAN,
    operators=frozenset({Op.EQ}),
    output_field=BooleanField(),
    help_text="True from the second paid order; false for new customers and prospects.",
)
_order_measure_field(
    "value_tier",
    "Value tier",
    lambda columns, context: measures.value_tier(columns, measures.current_thresholds()),
    value_type=ValueType.CHOICE,
    operators=CHOICE,
    output_field=CharField(),
    choices=tuple(ValueTier.choices),
    help_text="From total spent and the thresholds in the lifecycle settings.",
)
_order_measure_field(
    "promotion_sensitivity",
    "Promotion sensitivity",
    lambda columns, context: measures.promotion_sensitivity(columns),
    value_type=ValueType.DECIMAL,
    operators=frozenset({Op.EQ, Op.NE, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN, Op.IS_NULL}),
    output_field=DecimalField(max_digits=6, decimal_places=4),
    nullable=True,
    minimum=Decimal(0),
    maximum=Decimal(1),
    help_text="Share of paid orders that used a coupon, 0 to 1; unknown without orders.",
)
_order_measure_field(
    "weekend_buyer",
    "Weekend buyer",
    lambda columns, context: measures.weekend_buyer(columns),
    value_type=ValueType.BOOLEAN,
    operators=frozenset({Op.EQ, Op.IS_NULL}),
    output_field=BooleanField(),
    nullable=True,
    help_text="True when most paid orders fall on a weekend; unknown without orders.",
)
_customer_values_field(
    "preferred_category",
    "Preferred category",
    lambda context: measures.preferred_categories(as_of=context.as_of),
    value_type=ValueType.TEXT,
    operators=TEXT,
    help_text="The category with the largest share of spend.",
)
_customer_values_field(
    "preferred_channel",
    "Preferred channel",
    lambda context: measures.preferred_channels(as_of=context.as_of),
    value_type=ValueType.TEXT,
    operators=TEXT,
    help_text="The channel of most paid orders.",
)
_customer_values_field(
    "usual_daypart",
    "Usual time of day",
    lambda context: measures.usual_dayparts(as_of=context.as_of),
    value_type=ValueType.CHOICE,
    operators=TEXT,
    choices=tuple(Daypart.choices),
    help_text="The local time of day of most paid orders.",
)


# The scores each RFM field needs: the group reads recency and frequency.
RFM_SCORES_NEEDED = {
    "rfm_group": "rf",
    "rfm_recency": "r",
    "rfm_frequency": "f",
    "rfm_monetary": "m",
}


def _rfm_column(column: str) -> Callable[[CompileContext], Sql]:
    def query(context: CompileContext) -> Sql:
        scores = measures.rfm_at(as_of=context.as_of, scores=RFM_SCORES_NEEDED[column])
        return Sql(f"SELECT customer_id, {column} AS value FROM ({scores.text}) rfm", scores.params)

    return query


_customer_values_field(
    "rfm_group",
    "RFM group",
    _rfm_column("rfm_group"),
    value_type=ValueType.CHOICE,
    operators=CHOICE | {Op.IS_NULL},
    choices=tuple(RfmGroup.choices),
    help_text="Named group from the recency and frequency scores; unknown without orders.",
)
for _score, _label in (
    ("rfm_recency", "RFM recency score"),
    ("rfm_frequency", "RFM frequency score"),
    ("rfm_monetary", "RFM monetary score"),
):
    _customer_values_field(
        _score,
        _label,
        _rfm_column(_score),
        value_type=ValueType.INTEGER,
        operators=SCORE | {Op.IS_NULL},
        nullable=True,
        minimum=1,
        maximum=5,
        help_text="1 to 5, the quintile among the customers with a paid order; unknown "
        "without orders.",
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
