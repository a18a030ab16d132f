"""The field catalogue: every field a segment rule can use, declared once.

Each field registers a FieldSpec with `@register_field(...)` in segments/fields/*.py. The
spec is the single source for validation (segments.rules), compilation (segments.compiler),
the description (segments.describe) and the builder and API menus (`field_catalogue()`).

Not in the catalogue yet: coupons_received / coupons_redeemed (their data comes with the
campaigns issues) and the prediction fields p_active, churn_risk, predicted_orders and
predicted_clv (their data comes with the BG/NBD and Gamma-Gamma issue). SPEC §2 lists them;
they are added here when the columns they read exist.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q

from crm.core.operator_calendar import start_of_local_day
from crm.enums import EventKind
from segments.enums import FieldFamily, Operator, ValueType

if TYPE_CHECKING:
    # rules.py imports this module to validate, and the field modules import it to register,
    # so their types are for annotations only.
    from segments.fields.aggregates import AggregateTerm
    from segments.rules import Condition, Node, Window

ONE_DAY = timedelta(days=1)
# The longest span of days a rule may name (100 years); also keeps datetime arithmetic on
# as_of far from overflowing.
MAX_DAYS = 36_600
EVENT_KINDS: tuple[tuple[str, str], ...] = tuple(EventKind.choices)


@dataclass(frozen=True)
class InstantRange:
    """A span of time with open or closed ends; None means unbounded on that side."""

    lower: datetime | None = None
    lower_inclusive: bool = True
    upper: datetime | None = None
    upper_inclusive: bool = True

    def lookups(self, name: str) -> dict[str, datetime]:
        """Django lookups keeping `name` inside the range (a column or an annotation)."""
        found = {}
        if self.lower is not None:
            found[f"{name}__{'gte' if self.lower_inclusive else 'gt'}"] = self.lower
        if self.upper is not None:
            found[f"{name}__{'lte' if self.upper_inclusive else 'lt'}"] = self.upper
        return found


@dataclass(frozen=True)
class CompileContext:
    """What a compile function may know besides the condition: the moment and the zone.

    `as_of_is_now` is decided by the caller: True only when as_of is the present, so the
    metric columns stored on Customer (computed by crm.services.metrics up to now) may
    answer unwindowed conditions; otherwise they are recomputed from the orders at or
    before as_of.

    `only_customer` (a customer_id) is set when the query tests that one customer (a claim's
    audience test, which adds `customer_id = X` to the outer query): every per-customer
    row set (orders, lines, events) is then cut to that customer's rows. A semi-join on a
    GROUP BY is not correlated with the outer row, so PostgreSQL grouped every order of the
    window for each claim (3.3 s for a 30-day window at 1M customers and 10M orders);
    cut, it reads the customer's own rows by index. Exact for that customer, whose group
    is the same; the query answers for nobody else.
    """

    as_of: datetime
    as_of_is_now: bool
    time_zone: ZoneInfo
    # The compiler's own dispatch, for fields made of other rule trees (in_segment).
    compile_node: Callable[["Node", "CompileContext"], Q]
    only_customer: str | None = None

    def compile(self, node: "Node") -> Q:
        """Compile a nested rule tree in this same context."""
        return self.compile_node(node, self)

    @property
    def today(self) -> date:
        """The operator's calendar date at as_of."""
        return self.as_of.astimezone(self.time_zone).date()

    def day_start(self, day: date) -> datetime:
        return start_of_local_day(day, self.time_zone)

    def value_range(self, op: Operator, value: Any) -> InstantRange:
        """The instants a date-time field must fall in for before/after/between/within.

        A date means the whole calendar day in TIME_ZONE: "before 1 March" is before its
        first instant, "after 1 March" from 2 March on, and `between` includes both days.
        A date-time is taken as the exact instant.
        """
        match op:
            case Operator.BEFORE:
                return InstantRange(upper=self._first_instant(value), upper_inclusive=False)
            case Operator.AFTER:
                if isinstance(value, datetime):
                    return InstantRange(lower=value, lower_inclusive=False)
                return InstantRange(lower=self.day_start(value + ONE_DAY))
            case Operator.BETWEEN:
                low, high = value
                if isinstance(high, datetime):
                    return InstantRange(lower=self._first_instant(low), upper=high)
                return InstantRange(
                    lower=self._first_instant(low),
                    upper=self.day_start(high + ONE_DAY),
                    upper_inclusive=False,
                )
            case Operator.WITHIN_LAST_DAYS:
                return self.last_days(value)
        raise ValueError(f"{op} is not a time operator")

    def last_days(self, days: int) -> InstantRange:
        """(as_of - days, as_of]: exactly `days` days ago is out, a second later is in."""
        return InstantRange(
            lower=self.as_of - days * ONE_DAY, lower_inclusive=False, upper=self.as_of
        )

    def window_range(self, window: "Window | None") -> InstantRange:
        """The instants a window covers, cut at as_of (later rows never count).

        No window: everything up to as_of. `last_days`: (as_of - N days, as_of]. from/to:
        from the first instant of `from` to as_of or to the end of `to`, whichever is first.
        """
        if window is None:
            return InstantRange(upper=self.as_of)
        if window.last_days is not None:
            return self.last_days(window.last_days)
        lower = self.day_start(window.start) if window.start else None
        if window.end is not None and self.day_start(window.end + ONE_DAY) <= self.as_of:
            return InstantRange(
                lower=lower, upper=self.day_start(window.end + ONE_DAY), upper_inclusive=False
            )
        return InstantRange(lower=lower, upper=self.as_of)

    def window_filter(self, name: str, window: "Window | None") -> Q:
        """Rows at or before as_of, and inside the window when there is one (`name`: the
        rows' instant, e.g. "placed_at", or "order__placed_at" for order lines); only
        `only_customer`'s rows when it is set (their customer: the instant's model's)."""
        found = Q(**self.window_range(window).lookups(name))
        if self.only_customer is not None:
            owner, _, _ = name.rpartition("__")
            path = f"{owner}__customer__customer_id" if owner else "customer__customer_id"
            found &= Q(**{path: self.only_customer})
        return found

    def _first_instant(self, value: date | datetime) -> datetime:
        return value if isinstance(value, datetime) else self.day_start(value)


CompileFunction = Callable[["Condition", CompileContext], Q]
# A condition on a per-customer aggregate, for sharing one GROUP BY with its siblings of an
# AllOf (segments.fields.aggregates); None when the condition has no such form.
MergeTermFunction = Callable[["Condition", CompileContext], "AggregateTerm | None"]


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str  # the marketer's words
    family: FieldFamily
    value_type: ValueType
    operators: frozenset[Operator]
    compile: CompileFunction
    takes_window: bool = False
    takes_kind: bool = False
    takes_purchase_scope: bool = False
    # (value, label) pairs for ValueType.CHOICE; free-text fields (cities...) have none.
    choices: tuple[tuple[str, str], ...] = ()
    minimum: int | Decimal | None = None
    maximum: int | Decimal | None = None
    # False for fields with no history (profile attributes, tags): today's value always.
    follows_as_of: bool = True
    help_text: str = ""
    # Set for fields over per-customer aggregates (counts, sums, first/last times); the
    # compiler merges sibling terms over the same rows into one semi-join.
    merge_term: MergeTermFunction | None = None


FIELDS: dict[str, FieldSpec] = {}


def register_field(
    *,
    name: str,
    label: str,
    family: FieldFamily,
    value_type: ValueType,
    operators: frozenset[Operator],
    **options: Any,
) -> Callable[[CompileFunction], CompileFunction]:
    """Declare a field; the decorated function compiles its positive operators to a Q.

    The compiler turns ne / not_in / not_has and `is_null false` into NOT of eq / in / has
    / `is_null true`, so compile functions never see them.
    """

    def decorator(compile_function: CompileFunction) -> CompileFunction:
        if name in FIELDS:
            raise ImproperlyConfigured(f"segment field {name!r} is registered twice")
        FIELDS[name] = FieldSpec(
            name=name,
            label=label,
            family=family,
            value_type=value_type,
            operators=operators,
            compile=compile_function,
            **options,
        )
        return compile_function

    return decorator


def field_catalogue() -> list[dict[str, Any]]:
    """Every field as JSON-able data for the API and the builder, in menu order."""
    families = list(FieldFamily)
    specs = sorted(FIELDS.values(), key=lambda spec: (families.index(spec.family), spec.label))
    return [
        {
            "name": spec.name,
            "label": spec.label,
            "family": spec.family.value,
            "value_type": spec.value_type.value,
            "operators": [op.value for op in Operator if op in spec.operators],
            "takes_window": spec.takes_window,
            "takes_kind": spec.takes_kind,
            "kinds": [{"value": v, "label": lbl} for v, lbl in EVENT_KINDS]
            if spec.takes_kind
            else [],
            "takes_purchase_scope": spec.takes_purchase_scope,
            "choices": [{"value": value, "label": label} for value, label in spec.choices],
            "minimum": _json_number(spec.minimum),
            "maximum": _json_number(spec.maximum),
            "follows_as_of": spec.follows_as_of,
            "help_text": spec.help_text,
        }
        for spec in specs
    ]


def _json_number(value: int | Decimal | None) -> int | str | None:
    return str(value) if isinstance(value, Decimal) else value


# The field modules register themselves on import; importing them here (after the registry
# exists) makes the catalogue complete whenever this module is imported.
from segments.fields import behaviour, labels, profile, purchases  # noqa: E402, F401
