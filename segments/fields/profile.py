"""Profile fields: who the customer is, read from Customer's own columns and tags.

Profile values carry no history, so they read today's columns whatever the as_of, and the
catalogue says so (`follows_as_of` False, shown in the builder). Age and birth month move
with as_of (computed from birth_date at that moment), and registered_at is a fixed moment:
those follow as_of. No order-derived field is a profile field.
"""

from calendar import isleap
from datetime import date
from typing import TYPE_CHECKING

from django.db.models import Exists, OuterRef, Q

from crm.enums import Gender
from crm.models import Customer
from segments.catalogue import CompileContext, register_field
from segments.enums import FieldFamily, Operator, ValueType
from segments.fields.lookups import (
    ConsentGiven,
    code_column_condition,
    code_matches,
    column_condition,
)

if TYPE_CHECKING:
    from segments.rules import Condition

Op = Operator
NUMBER = frozenset({Op.EQ, Op.NE, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN})
TEXT = frozenset({Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.IS_NULL})
CHOICE = frozenset({Op.EQ, Op.NE, Op.IN, Op.NOT_IN})
TIME = frozenset({Op.BEFORE, Op.AFTER, Op.BETWEEN, Op.WITHIN_LAST_DAYS, Op.IS_NULL})
SET = frozenset({Op.HAS, Op.NOT_HAS})
NO_HISTORY = "Today's value: the profile keeps no history of it."


def _no_history(help_text: str) -> str:
    return f"{help_text} {NO_HISTORY}".strip()


def _text_field(name: str, label: str, help_text: str) -> None:
    """Register a free-text code column (values come from the data) where blank means
    unknown; codes match whatever their letter case and surrounding spaces."""

    def compile_text(condition: "Condition", context: CompileContext) -> Q:
        return code_column_condition(condition, column=name)

    register_field(
        name=name,
        label=label,
        family=FieldFamily.PROFILE,
        value_type=ValueType.TEXT,
        operators=TEXT,
        follows_as_of=False,
        help_text=_no_history(help_text),
    )(compile_text)


_text_field("city", "City", "The city on the customer's profile.")
_text_field("region", "Region", "The region (province) on the customer's profile.")
_text_field("occupation", "Occupation", "")
_text_field("member_tier", "Member tier", "e.g. silver, gold, platinum.")
_text_field("acquisition_channel", "Acquisition channel", "Where the customer first came from.")


@register_field(
    name="gender",
    label="Gender",
    family=FieldFamily.PROFILE,
    value_type=ValueType.CHOICE,
    operators=CHOICE | {Op.IS_NULL},
    choices=tuple((value, label) for value, label in Gender.choices if value),
    follows_as_of=False,
    help_text=NO_HISTORY,
)
def _compile_gender(condition: "Condition", context: CompileContext) -> Q:
    return column_condition(condition, context, column="gender")


@register_field(
    name="age",
    label="Age",
    family=FieldFamily.PROFILE,
    value_type=ValueType.INTEGER,
    operators=NUMBER | {Op.IS_NULL},
    minimum=0,
    maximum=150,
    help_text="Whole years as of the evaluation date, from the birth date.",
)
def _compile_age(condition: "Condition", context: CompileContext) -> Q:
    """Age bounds become birth_date bounds, so the birth_date index can serve them.

    age >= N exactly when the N-th birthday is on or before today, i.e. birth_date <= today
    minus N years (a 29 February birthday counts from 1 March in other years).
    """
    if condition.op == Op.IS_NULL:
        return Q(birth_date__isnull=True)
    today = context.today

    def at_least(years: int) -> Q:
        return Q(birth_date__lte=_years_before(today, years))

    def at_most(years: int) -> Q:
        return Q(birth_date__gt=_years_before(today, years + 1))

    value = condition.value
    match condition.op:
        case Op.EQ:
            matched = at_least(value) & at_most(value)
        case Op.GT:
            matched = at_least(value + 1)
        case Op.GTE:
            matched = at_least(value)
        case Op.LT:
            matched = at_most(value - 1)
        case Op.LTE:
            matched = at_most(value)
        case Op.BETWEEN:
            matched = at_least(value[0]) & at_most(value[1])
    return matched & Q(birth_date__isnull=False)


def _years_before(today: date, years: int) -> date:
    year = today.year - years
    if today.month == 2 and today.day == 29 and not isleap(year):
        return date(year, 2, 28)
    return today.replace(year=year)


@register_field(
    name="birth_month",
    label="Birth month",
    family=FieldFamily.PROFILE,
    value_type=ValueType.INTEGER,
    operators=frozenset({Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.IS_NULL}),
    minimum=1,
    maximum=12,
    help_text="1 = January ... 12 = December.",
)
def _compile_birth_month(condition: "Condition", context: CompileContext) -> Q:
    if condition.op == Op.IS_NULL:
        return Q(birth_date__isnull=True)
    month = "birth_date__month"
    matched = (
        Q(**{f"{month}__in": condition.value})
        if condition.op == Op.IN
        else Q(**{month: condition.value})
    )
    return matched & Q(birth_date__isnull=False)


@register_field(
    name="is_member",
    label="Member",
    family=FieldFamily.PROFILE,
    value_type=ValueType.BOOLEAN,
    operators=frozenset({Op.EQ}),
    follows_as_of=False,
    help_text=NO_HISTORY,
)
def _compile_is_member(condition: "Condition", context: CompileContext) -> Q:
    return column_condition(condition, context, column="is_member")


@register_field(
    name="points",
    label="Points balance",
    family=FieldFamily.PROFILE,
    value_type=ValueType.INTEGER,
    operators=NUMBER,
    minimum=0,
    follows_as_of=False,
    help_text=NO_HISTORY,
)
def _compile_points(condition: "Condition", context: CompileContext) -> Q:
    return column_condition(condition, context, column="points")


@register_field(
    name="registered_at",
    label="Registration date",
    family=FieldFamily.PROFILE,
    value_type=ValueType.DATETIME,
    operators=TIME,
)
def _compile_registered_at(condition: "Condition", context: CompileContext) -> Q:
    return column_condition(condition, context, column="registered_at", nullable=True)


@register_field(
    name="tag",
    label="Tag",
    family=FieldFamily.PROFILE,
    value_type=ValueType.TEXT,
    operators=SET,
    help_text=_no_history("A manual tag such as vip."),
    follows_as_of=False,
)
def _compile_tag(condition: "Condition", context: CompileContext) -> Q:
    tagged = Customer.tags.through.objects.filter(
        code_matches("tag__name", [condition.value]), customer_id=OuterRef("pk")
    )
    return Q(Exists(tagged))


@register_field(
    name="consent",
    label="Marketing consent",
    family=FieldFamily.PROFILE,
    value_type=ValueType.TEXT,
    operators=SET,
    help_text=_no_history("Consent to be contacted through an off-site channel code, e.g. sms."),
    follows_as_of=False,
)
def _compile_consent(condition: "Condition", context: CompileContext) -> Q:
    """Only an explicit JSON true is consent; a missing code or any other value is not.
    The channel code matches whatever its letter case and surrounding spaces (never NULL,
    see ConsentGiven)."""
    return Q(ConsentGiven(condition.value))
