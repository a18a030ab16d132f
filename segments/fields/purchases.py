"""Purchase fields: paid orders only (refunded and cancelled ones never count, SPEC §1).

Which data answers a condition (the rule of the `as_of_is_now` flag, see CompileContext):
- `as_of_is_now` and no window or purchase scope: the metric columns stored on Customer by
  crm.services.metrics (order_count, total_spent, avg_order_value, first/last_order_at;
  days_since_last_order from last_order_at). The plain lookups are the fastest.
- otherwise (a window, a scope, or an explicit as_of): the paid orders placed at or before
  as_of, as semi-joins on Customer.pk (fields.aggregates). The stored columns hold today's
  values and would be wrong for any other moment.
With a category or SKU scope, spend is the sum of the matching item lines (quantity x unit
price) and an order counts when it has at least one matching item.
"""

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import (
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import Round

from crm.enums import OrderStatus
from crm.models import Order, OrderItem
from segments.catalogue import MAX_DAYS, CompileContext, InstantRange, register_field
from segments.enums import FieldFamily, Operator, ValueType
from segments.fields.aggregates import (
    MEASURE,
    AggregateTerm,
    RowSet,
    aggregate_condition,
    contains,
    customers_with_rows,
    number_condition,
    number_term,
)
from segments.fields.lookups import code_matches, column_condition, comparison

if TYPE_CHECKING:
    from segments.rules import Condition

Op = Operator
ONE_DAY = timedelta(days=1)
NUMBER = frozenset({Op.EQ, Op.NE, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN})
TIME = frozenset({Op.BEFORE, Op.AFTER, Op.BETWEEN, Op.WITHIN_LAST_DAYS, Op.IS_NULL})
BOUGHT = frozenset({Op.EQ, Op.NE, Op.IN, Op.NOT_IN})
MONEY = DecimalField(max_digits=20, decimal_places=6)
WINDOW_HELP = " Optionally in a window of time (last N days, or from/to dates)."


def _uses_stored_columns(condition: "Condition", context: CompileContext) -> bool:
    return context.as_of_is_now and condition.window is None and condition.scope is None


def _has_item_scope(condition: "Condition") -> bool:
    return condition.scope is not None and bool(condition.scope.category or condition.scope.sku)


def _item_filter(condition: "Condition", prefix: str = "") -> Q:
    """Item lines of the scope's category and SKU (codes: any case, trimmed)."""
    scope = condition.scope
    lines = Q()
    if scope is not None and scope.category:
        lines &= code_matches(f"{prefix}category", [scope.category])
    if scope is not None and scope.sku:
        lines &= code_matches(f"{prefix}sku", [scope.sku])
    return lines


def _order_filter(condition: "Condition", prefix: str = "") -> Q:
    """Orders of the scope's store and channel (codes: any case, trimmed)."""
    scope = condition.scope
    orders = Q()
    if scope is not None and scope.store:
        orders &= code_matches(f"{prefix}store", [scope.store])
    if scope is not None and scope.channel:
        orders &= code_matches(f"{prefix}channel", [scope.channel])
    return orders


def _row_set(table: str, condition: "Condition", context: CompileContext) -> RowSet:
    return RowSet(table=table, period=context.window_range(condition.window), scope=condition.scope)


def paid_orders(condition: "Condition", context: CompileContext) -> QuerySet:
    """Paid orders placed at or before as_of, in the condition's window and scope."""
    orders = Order.objects.paid().filter(
        context.window_filter("placed_at", condition.window), _order_filter(condition)
    )
    if _has_item_scope(condition):
        items = OrderItem.objects.filter(_item_filter(condition), order=OuterRef("pk"))
        orders = orders.filter(Exists(items))
    return orders


def paid_lines(condition: "Condition", context: CompileContext) -> QuerySet:
    """Item lines of paid orders (at or before as_of, windowed, scoped) that match the scope."""
    return OrderItem.objects.filter(
        context.window_filter("order__placed_at", condition.window),
        _item_filter(condition),
        _order_filter(condition, prefix="order__"),
        order__status=OrderStatus.PAID,
    )


def _line_amount() -> ExpressionWrapper:
    return ExpressionWrapper(F("quantity") * F("unit_price"), output_field=MONEY)


class Share(Func):
    """numerator * 1.0 / denominator in numeric, not floating point: the same expression
    crm.services.metrics uses for the stored average, so an average counted from the orders
    rounds to the same cent as the stored column."""

    template = "(%(expressions)s)"
    arg_joiner = " * 1.0 / "
    output_field = MONEY


def _average(total, orders) -> Round:
    # Rounded to cents like the stored column (crm.services.metrics), so a rule means the
    # same whether it reads the column or the orders.
    return Round(Share(total, orders), 2, output_field=MONEY)


def _order_count_term(condition: "Condition", context: CompileContext) -> AggregateTerm | None:
    if _uses_stored_columns(condition, context):
        return None
    return number_term(
        paid_orders(condition, context),
        row_set=_row_set("orders", condition, context),
        customer="customer",
        measure=Count("pk"),
        op=condition.op,
        value=condition.value,
    )


@register_field(
    name="order_count",
    label="Number of orders",
    family=FieldFamily.PURCHASES,
    value_type=ValueType.INTEGER,
    operators=NUMBER,
    takes_window=True,
    takes_purchase_scope=True,
    minimum=0,
    help_text="Paid orders." + WINDOW_HELP,
    merge_term=_order_count_term,
)
def _compile_order_count(condition: "Condition", context: CompileContext) -> Q:
    term = _order_count_term(condition, context)
    if term is None:
        return column_condition(condition, context, column="order_count")
    return number_condition(term, op=condition.op, value=condition.value)


def _total_spent_term(condition: "Condition", context: CompileContext) -> AggregateTerm | None:
    if _uses_stored_columns(condition, context):
        return None
    if _has_item_scope(condition):
        return number_term(
            paid_lines(condition, context),
            row_set=_row_set("lines", condition, context),
            customer="order__customer",
            measure=Sum(_line_amount(), output_field=MONEY),
            op=condition.op,
            value=condition.value,
        )
    return number_term(
        paid_orders(condition, context),
        row_set=_row_set("orders", condition, context),
        customer="customer",
        measure=Sum("amount"),
        op=condition.op,
        value=condition.value,
    )


@register_field(
    name="total_spent",
    label="Total spent",
    family=FieldFamily.PURCHASES,
    value_type=ValueType.DECIMAL,
    operators=NUMBER,
    takes_window=True,
    takes_purchase_scope=True,
    minimum=Decimal(0),
    help_text="Sum of paid orders (of matching items with a category or SKU)." + WINDOW_HELP,
    merge_term=_total_spent_term,
)
def _compile_total_spent(condition: "Condition", context: CompileContext) -> Q:
    term = _total_spent_term(condition, context)
    if term is None:
        return column_condition(condition, context, column="total_spent")
    return number_condition(term, op=condition.op, value=condition.value)


def _average_term(condition: "Condition", context: CompileContext) -> AggregateTerm:
    if _has_item_scope(condition):
        rows, customer, table = paid_lines(condition, context), "order__customer", "lines"
        measure = _average(Sum(_line_amount(), output_field=MONEY), Count("order", distinct=True))
    else:
        rows, customer, table = paid_orders(condition, context), "customer", "orders"
        measure = _average(Sum("amount"), Count("pk"))
    op, value = condition.op, condition.value
    return AggregateTerm(
        rows=rows,
        row_set=_row_set(table, condition, context),
        customer=customer,
        measure=measure,
        matched=lambda alias: comparison(alias, op, value),
        # Without orders the average is unknown: only is_null (and NOT of a comparison) has
        # them.
        matches_customers_without_rows=False,
    )


def _merge_average_term(condition: "Condition", context: CompileContext) -> AggregateTerm | None:
    if _uses_stored_columns(condition, context) or condition.op == Op.IS_NULL:
        return None
    return _average_term(condition, context)


@register_field(
    name="avg_order_value",
    label="Average order value",
    family=FieldFamily.PURCHASES,
    value_type=ValueType.DECIMAL,
    operators=NUMBER | {Op.IS_NULL},
    takes_window=True,
    takes_purchase_scope=True,
    minimum=Decimal(0),
    help_text="Total spent / number of orders, to the cent; unknown without orders." + WINDOW_HELP,
    merge_term=_merge_average_term,
)
def _compile_avg_order_value(condition: "Condition", context: CompileContext) -> Q:
    if _uses_stored_columns(condition, context):
        return column_condition(condition, context, column="avg_order_value", nullable=True)
    term = _average_term(condition, context)
    if condition.op == Op.IS_NULL:
        return ~customers_with_rows(term.rows, customer=term.customer)
    return aggregate_condition(
        term.rows,
        customer=term.customer,
        measure=term.measure,
        matched=term.matched(MEASURE),
        matches_customers_without_rows=term.matches_customers_without_rows,
    )


def _order_time_condition(
    condition: "Condition", context: CompileContext, *, column: str, matched: InstantRange
) -> Q:
    """first/last order time inside `matched`; customers without paid orders never are.

    From orders, not as Min/Max over each customer's whole history (a GROUP BY over every
    paid order, 4.8x hand-written SQL on 10M orders) but as two range tests the
    (customer, placed_at) and placed_at indexes answer: the last order is in the range
    exactly when some order is in it and none is after it (the first order: none before
    it). Both are semi-joins on the primary key, so NOT stays exact.
    """
    if _uses_stored_columns(condition, context):
        return Q(**matched.lookups(column), **{f"{column}__isnull": False})
    orders = paid_orders(condition, context)
    found = customers_with_rows(orders.filter(**matched.lookups("placed_at")), customer="customer")
    if column == "last_order_at" and matched.upper is not None:
        later = "placed_at__gt" if matched.upper_inclusive else "placed_at__gte"
        found &= ~customers_with_rows(orders.filter(**{later: matched.upper}), customer="customer")
    if column == "first_order_at" and matched.lower is not None:
        earlier = "placed_at__lt" if matched.lower_inclusive else "placed_at__lte"
        found &= ~customers_with_rows(
            orders.filter(**{earlier: matched.lower}), customer="customer"
        )
    return found


def _order_time_term(
    condition: "Condition", context: CompileContext, *, last: bool, matched: InstantRange
) -> AggregateTerm | None:
    """The last (or first) order time inside `matched`, as a term other row sets can answer.

    The last paid order is in `matched` exactly when the last of the paid orders of a period
    P (unscoped, ending at as_of) is, provided every instant of `matched` up to as_of lies in
    P: the last order is then inside P, so it is P's last one, and conversely P's last order
    is followed by no order up to as_of. "Ordered twice in the last 60 days, the last time
    less than 15 days ago" is one GROUP BY with HAVING count >= 2 AND max(placed_at) > as_of
    - 15 days. The first order: only a period with no lower end holds it.
    """
    if _uses_stored_columns(condition, context):
        return None
    as_of = context.as_of

    def fits(row_set: RowSet) -> bool:
        period = row_set.period
        if row_set.table != "orders" or row_set.scope is not None:
            return False
        if period.upper != as_of or not period.upper_inclusive:
            return False
        return contains(period, matched) if last else period.lower is None

    return AggregateTerm(
        rows=paid_orders(condition, context),
        row_set=_row_set("orders", condition, context),
        customer="customer",
        measure=Max("placed_at") if last else Min("placed_at"),
        matched=lambda alias: Q(**matched.lookups(alias)),
        matches_customers_without_rows=False,
        grouped=False,
        fits=fits,
    )


def _no_paid_orders(condition: "Condition", context: CompileContext, column: str) -> Q:
    if _uses_stored_columns(condition, context):
        return Q(**{f"{column}__isnull": True})
    return ~customers_with_rows(paid_orders(condition, context), customer="customer")


def _register_order_time(name: str, label: str, help_text: str) -> None:
    def compile_order_time(condition: "Condition", context: CompileContext) -> Q:
        if condition.op == Op.IS_NULL:
            return _no_paid_orders(condition, context, name)
        matched = context.value_range(condition.op, condition.value)
        return _order_time_condition(condition, context, column=name, matched=matched)

    def order_time_term(condition: "Condition", context: CompileContext) -> AggregateTerm | None:
        if condition.op == Op.IS_NULL:
            return None
        matched = context.value_range(condition.op, condition.value)
        return _order_time_term(condition, context, last=name == "last_order_at", matched=matched)

    register_field(
        name=name,
        label=label,
        family=FieldFamily.PURCHASES,
        value_type=ValueType.DATETIME,
        operators=TIME,
        help_text=help_text,
        merge_term=order_time_term,
    )(compile_order_time)


_register_order_time("first_order_at", "First order date", "When the first paid order was placed.")
_register_order_time("last_order_at", "Last order date", "When the last paid order was placed.")


def _days_since_range(condition: "Condition", context: CompileContext) -> InstantRange:
    """Where the last order lies for a comparison of days_since_last_order.

    Whole days d = floor((as_of - last) / 1 day), so d >= N exactly when last <= as_of -
    N days, and d <= N exactly when last > as_of - (N + 1) days.
    """
    as_of, value = context.as_of, condition.value

    def at_least(days: int) -> InstantRange:
        return InstantRange(upper=as_of - days * ONE_DAY)

    def at_most(days: int) -> InstantRange:
        return InstantRange(lower=as_of - (days + 1) * ONE_DAY, lower_inclusive=False)

    match condition.op:
        case Op.EQ:
            return _both(at_least(value), at_most(value))
        case Op.GT:
            return at_least(value + 1)
        case Op.GTE:
            return at_least(value)
        case Op.LT:
            return at_most(value - 1)
        case Op.LTE:
            return at_most(value)
        case Op.BETWEEN:
            return _both(at_least(value[0]), at_most(value[1]))
    raise ValueError(f"{condition.op} is not a comparison")


def _days_since_term(condition: "Condition", context: CompileContext) -> AggregateTerm | None:
    if condition.op == Op.IS_NULL:
        return None
    matched = _days_since_range(condition, context)
    return _order_time_term(condition, context, last=True, matched=matched)


@register_field(
    name="days_since_last_order",
    label="Days since last order",
    family=FieldFamily.PURCHASES,
    value_type=ValueType.INTEGER,
    operators=NUMBER | {Op.IS_NULL},
    minimum=0,
    maximum=MAX_DAYS,
    help_text="Whole days (rounded down) from the last paid order to the evaluation time.",
    merge_term=_days_since_term,
)
def _compile_days_since_last_order(condition: "Condition", context: CompileContext) -> Q:
    if condition.op == Op.IS_NULL:
        return _no_paid_orders(condition, context, "last_order_at")
    matched = _days_since_range(condition, context)
    return _order_time_condition(condition, context, column="last_order_at", matched=matched)


def _both(upper: InstantRange, lower: InstantRange) -> InstantRange:
    return InstantRange(
        lower=lower.lower,
        lower_inclusive=lower.lower_inclusive,
        upper=upper.upper,
        upper_inclusive=upper.upper_inclusive,
    )


def _bought(name: str, label: str, *, lookup: str, rows: str, help_text: str) -> None:
    """Register an existence field: a paid order (or item line) with this value."""

    def compile_bought(condition: "Condition", context: CompileContext) -> Q:
        values = list(condition.value) if condition.op == Op.IN else [condition.value]
        if rows == "lines":
            found = OrderItem.objects.filter(
                context.window_filter("order__placed_at", condition.window),
                code_matches(lookup, values),
                order__status=OrderStatus.PAID,
                order__customer=OuterRef("pk"),
            )
        else:
            found = Order.objects.paid().filter(
                context.window_filter("placed_at", condition.window),
                code_matches(lookup, values),
                customer=OuterRef("pk"),
            )
        return Q(Exists(found))

    register_field(
        name=name,
        label=label,
        family=FieldFamily.PURCHASES,
        value_type=ValueType.TEXT,
        operators=BOUGHT,
        takes_window=True,
        help_text=help_text + WINDOW_HELP,
    )(compile_bought)


_bought(
    "bought_category",
    "Bought from category",
    lookup="category",
    rows="lines",
    help_text="Has a paid order with an item of this category.",
)
_bought(
    "bought_sku",
    "Bought SKU",
    lookup="sku",
    rows="lines",
    help_text="Has a paid order with this SKU.",
)
_bought(
    "bought_in_store",
    "Bought in store",
    lookup="store",
    rows="orders",
    help_text="Has a paid order placed in this store.",
)
