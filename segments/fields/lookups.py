"""The operator-to-lookup table shared by every field.

Compile functions only see positive operators (the compiler negates ne / not_in / not_has
and `is_null false` in one place), and every Q they build is two-valued: a condition on a
nullable column carries an explicit `IS NOT NULL`, so that NOT of it is its exact
complement and keeps the customers whose value is unknown (STYLE §2.4).
"""

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import Q

from segments.catalogue import CompileContext
from segments.enums import Operator

if TYPE_CHECKING:
    from segments.rules import Condition

TIME_OPERATORS = frozenset(
    {Operator.BEFORE, Operator.AFTER, Operator.WITHIN_LAST_DAYS, Operator.BETWEEN}
)


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
