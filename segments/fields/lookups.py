"""The operator-to-lookup table shared by every field.

Compile functions only see positive operators (the compiler negates ne / not_in / not_has
and `is_null false` in one place), and every Q they build is two-valued: a condition on a
nullable column carries an explicit `IS NOT NULL`, so that NOT of it is its exact
complement and keeps the customers whose value is unknown (STYLE §2.4).

Text codes (cities, tiers, categories, SKUs, stores, channels, tags) are compared as
`code()`: without surrounding spaces and in lower case, on both sides, in SQL, so "Gold"
matches a stored "gold" and " Shanghai" a stored "Shanghai" (the columns are NOT NULL, so
the comparison stays two-valued). It reads an expression of the column, which the column's
plain index cannot answer: where that index served an equality (Customer.city), the
condition is now a scan of the customers (1M customers: "city in Shanghai, Beijing and tier
gold" 127 ms through the city index, 168 ms as a parallel scan), unless an expression index
on code(column) serves it. The other code columns had no index to lose.
"""

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import BooleanField, CharField, F, Func, Q, Value
from django.db.models.functions import Lower
from django.db.models.lookups import Exact, In

from segments.catalogue import CompileContext
from segments.enums import Operator

if TYPE_CHECKING:
    from segments.rules import Condition

TIME_OPERATORS = frozenset(
    {Operator.BEFORE, Operator.AFTER, Operator.WITHIN_LAST_DAYS, Operator.BETWEEN}
)
# What Python's str.strip() removes (the parser trims rule values with it), for SQL's BTRIM,
# so that a value and the data are trimmed alike (U+3000 is the ideographic space of
# Chinese input).
SURROUNDING_SPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
    "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def trimmed(expression) -> Func:
    """Text without its surrounding spaces (what str.strip() removes)."""
    return Func(expression, Value(SURROUNDING_SPACE), function="BTRIM", output_field=CharField())


def code(expression) -> Func:
    """A text code as compared: without surrounding spaces, in lower case."""
    return Lower(trimmed(expression))


def code_matches(name: str, values) -> Q:
    """`name` (a column, possibly across a relation) is one of the text codes `values`,
    ignoring letter case and surrounding spaces on both sides."""
    wanted = [Lower(Value(value, output_field=CharField())) for value in values]
    if len(wanted) == 1:
        return Q(Exact(code(F(name)), wanted[0]))
    return Q(In(code(F(name)), wanted))


def code_column_condition(condition: "Condition", *, column: str) -> Q:
    """A positive operator (eq, in, is_null) on a text code column of Customer where blank
    means unknown."""
    match condition.op:
        case Operator.IS_NULL:
            return Q(Exact(code(F(column)), Value("", output_field=CharField())))
        case Operator.EQ:
            return code_matches(column, [condition.value])
        case Operator.IN:
            return code_matches(column, condition.value)
    raise ValueError(f"{condition.op} is not an operator of text codes")


class ConsentGiven(Func):
    """Whether Customer.consent (a JSON object of channel code -> agreed) holds `channel`,
    ignoring letter case and surrounding spaces of the code, set to JSON true. Any other
    value, a missing code or a consent that is no object is no consent; never NULL."""

    output_field = BooleanField()

    def __init__(self, channel: str) -> None:
        super().__init__(
            F("consent"),
            Value(SURROUNDING_SPACE, output_field=CharField()),
            Value(channel, output_field=CharField()),
        )

    def as_sql(self, compiler, connection, **extra_context):
        consent, space, channel = (
            compiler.compile(expression) for expression in self.get_source_expressions()
        )
        sql = (
            f"CASE WHEN jsonb_typeof({consent[0]}) = 'object' THEN EXISTS ("
            f"SELECT 1 FROM jsonb_each({consent[0]}) AS given(code, agreed) "
            f"WHERE lower(btrim(given.code, {space[0]})) = lower({channel[0]}) "
            "AND given.agreed = 'true'::jsonb) ELSE false END"
        )
        return sql, (*consent[1], *consent[1], *space[1], *channel[1])


def comparison(name: str, op: Operator, value: object) -> Q:
    """`name` (a column or an annotation) compared with a value by a positive operator."""
    match op:
        case Operator.EQ:
            return Q(**{name: value})
        case Operator.IN:
            return Q(**{f"{name}__in": list(value)})
        case Operator.GT | Operator.GTE | Operator.LT | Operator.LTE:
            return Q(**{f"{name}__{op.value}": value})
        case Operator.BETWEEN:
            low, high = value
            return Q(**{f"{name}__gte": low, f"{name}__lte": high})
    raise ValueError(f"{op} is not a comparison")


def is_time_condition(condition: "Condition") -> bool:
    """Whether the condition compares instants (before/after/within, between two dates)."""
    if condition.op == Operator.BETWEEN:
        return isinstance(condition.value[0], date)
    return condition.op in TIME_OPERATORS


def zero_matches(op: Operator, value: object, zero: int | Decimal = 0) -> bool:
    """Whether a customer with no rows (a count or sum of 0) meets the comparison.

    Decided once per condition while compiling, to pick between the set of customers that
    qualify and the complement of the set that does not (see fields.aggregates).
    """
    match op:
        case Operator.EQ:
            return zero == value
        case Operator.IN:
            return zero in value
        case Operator.GT:
            return zero > value
        case Operator.GTE:
            return zero >= value
        case Operator.LT:
            return zero < value
        case Operator.LTE:
            return zero <= value
        case Operator.BETWEEN:
            low, high = value
            return low <= zero <= high
    raise ValueError(f"{op} is not a comparison")


def column_condition(
    condition: "Condition",
    context: CompileContext,
    *,
    column: str,
    nullable: bool = False,
) -> Q:
    """A positive operator on a plain Customer column.

    `is_null` means NULL for a nullable column and '' for a text column where blank means
    unknown (the import stores unknown cities, tiers... as blank).
    """
    if condition.op == Operator.IS_NULL:
        return Q(**{f"{column}__isnull": True}) if nullable else Q(**{column: ""})
    if is_time_condition(condition):
        matched = Q(**context.value_range(condition.op, condition.value).lookups(column))
    else:
        matched = comparison(column, condition.op, condition.value)
    if nullable:
        matched &= Q(**{f"{column}__isnull": False})
    return matched
