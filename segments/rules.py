"""Segment rule trees: typed, immutable nodes and the one parser that builds them.

A rule tree arrives as the SPEC §2 JSON. `parse_rule_tree()` validates it against the field
catalogue and returns frozen nodes, each carrying its `path` (e.g. "all[1].any[0]"; the root
is "") so that a refusal points at the node. It never mutates its input. `canonical_rules()`
gives the stored form: keys sorted, every optional key of the field present (null when
unset), values normalised (decimals as strings, dates as ISO text, `in` lists sorted), so
that two trees meaning the same thing store the same JSON.

`in_segment` references are resolved while parsing: a dynamic segment's stored rules are
parsed into the reference, so compiling stays pure, and cycles or missing segments are
refused here (STYLE §2.4).

Text values (cities, tiers, categories, SKUs, stores, channels, tags, consent codes) are
codes that match whatever their letter case and surrounding spaces (the compiler compares
them so), so they are stored trimmed, and an `in` list keeps one spelling of each.
"""

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from crm.core.operator_calendar import start_of_local_day
from segments import catalogue
from segments.enums import Operator, SegmentKind, ValueType
from segments.models import Segment

# The builder nests a few levels; anything deeper is a runaway client, not a marketer.
MAX_DEPTH = 16
# SPEC §2. Counted with the conditions of the dynamic segments an in_segment condition uses
# (their rules are compiled into the same query, once per use): 5,000 conditions took 16 s
# to count, and a tree over this is refused before anything is compiled.
MAX_CONDITIONS = 500
MAX_TEXT_LENGTH = 200
# Beyond this, counts overflow integer columns (and days, datetime arithmetic).
MAX_WHOLE_NUMBER = 1_000_000_000
EARLIEST_YEAR, LATEST_YEAR = 1900, 2999

SINGLE_VALUE_OPERATORS = frozenset(
    {
        Operator.EQ,
        Operator.NE,
        Operator.GT,
        Operator.GTE,
        Operator.LT,
        Operator.LTE,
        Operator.HAS,
        Operator.NOT_HAS,
        Operator.BEFORE,
        Operator.AFTER,
    }
)
LIST_OPERATORS = frozenset({Operator.IN, Operator.NOT_IN})
# Each negative operator means exactly NOT of its positive one (the compiler negates in one
# place), so customers whose value is unknown match `ne`, `not_in` and `not_has`.
NEGATED_OPERATORS = {
    Operator.NE: Operator.EQ,
    Operator.NOT_IN: Operator.IN,
    Operator.NOT_HAS: Operator.HAS,
}
PURCHASE_SCOPE_KEYS = ("category", "sku", "store", "channel")
CONDITION_KEYS = frozenset({"field", "op", "value", "window", "kind", *PURCHASE_SCOPE_KEYS})
NOT_A_NODE = (
    'expected a group ({"all": [...]}, {"any": [...]} or {"not": {...}}) '
    'or a condition ({"field": ..., "op": ..., "value": ...})'
)
WINDOW_SHAPE = 'window must be {"last_days": N} or {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}'


class RuleError(ValueError):
    """A rule tree the catalogue refuses; `path` names the node, `message` says why."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


class SegmentCycleError(RuleError):
    """in_segment references that lead back to a segment already being evaluated."""


class TooManyConditionsError(RuleError):
    """A tree over MAX_CONDITIONS conditions, counting those of the segments it uses."""

    def __init__(self) -> None:
        super().__init__(
            "",
            f"the rules hold more than {MAX_CONDITIONS} conditions (counting those of the "
            f"segments they use); a segment holds at most {MAX_CONDITIONS}",
        )


@dataclass(frozen=True)
class Window:
    """`last_days` covers (as_of - N days, as_of]; `start`/`end` are inclusive local dates."""

    last_days: int | None = None
    start: date | None = None
    end: date | None = None


@dataclass(frozen=True)
class PurchaseScope:
    """Only orders with an item of `category`/`sku`, placed in `store`/through `channel`."""

    category: str | None = None
    sku: str | None = None
    store: str | None = None
    channel: str | None = None


@dataclass(frozen=True)
class Condition:
    field: str
    op: Operator
    # int, Decimal, str, bool, date, datetime, or a tuple of them for `in` and `between`.
    value: Any
    path: str
    window: Window | None = None
    kind: str | None = None
    scope: PurchaseScope | None = None
    # in_segment only: the referenced segments, resolved at parse time.
    references: tuple["SegmentReference", ...] = ()


@dataclass(frozen=True)
class AllOf:
    children: tuple["Node", ...]
    path: str


@dataclass(frozen=True)
class AnyOf:
    children: tuple["Node", ...]
    path: str


@dataclass(frozen=True)
class Not:
    child: "Node"
    path: str


Node = AllOf | AnyOf | Not | Condition


@dataclass(frozen=True)
class SegmentReference:
    """A segment named by an in_segment condition; dynamic ones carry their parsed rules."""

    segment_id: int
    name: str
    kind: SegmentKind
    rule_tree: Node | None


@dataclass(frozen=True)
class StoredSegment:
    """What the parser needs to know about a referenced segment."""

    segment_id: int
    name: str
    kind: str
    rules: Mapping[str, Any]


SegmentLookup = Callable[[int], StoredSegment | None]


def stored_segment(segment_id: int) -> StoredSegment | None:
    """The segment with this id as stored in the database, or None when there is none."""
    row = Segment.objects.filter(pk=segment_id).values("pk", "name", "kind", "rules").first()
    if row is None:
        return None
    return StoredSegment(
        segment_id=row["pk"], name=row["name"], kind=row["kind"], rules=row["rules"]
    )


def parse_rule_tree(
    data: Any,
    *,
    segment_lookup: SegmentLookup = stored_segment,
    segment_id: int | None = None,
) -> Node:
    """Parse and validate a SPEC §2 rule tree against the field catalogue.

    `segment_id` is the segment these rules belong to (None for a preview of new rules), so
    that an in_segment reference back to it is refused as a cycle. `segment_lookup` reads
    referenced segments (the database by default).

    Raises RuleError(path, message) for anything the catalogue refuses: an unknown field or
    key, an operator the field does not accept, a value of the wrong type or out of range,
    an empty group, a node of no known shape, a window, kind or purchase scope on a field
    that takes none, a bad window, and in_segment references to a missing segment or that
    make a cycle. Never mutates `data`.
    """
    return _Parser(segment_lookup=segment_lookup, segment_id=segment_id).node(data, "", 0)


def canonical_rules(
    data: Any,
    *,
    segment_lookup: SegmentLookup = stored_segment,
    segment_id: int | None = None,
) -> dict[str, Any]:
    """The stored form of a valid rule tree (raises RuleError like parse_rule_tree)."""
    node = parse_rule_tree(data, segment_lookup=segment_lookup, segment_id=segment_id)
    return rule_tree_as_json(node)


def rule_tree_as_json(node: Node) -> dict[str, Any]:
    """A parsed tree back as canonical JSON (see the module docstring)."""
    match node:
        case AllOf(children=children):
            return {"all": [rule_tree_as_json(child) for child in children]}
        case AnyOf(children=children):
            return {"any": [rule_tree_as_json(child) for child in children]}
        case Not(child=child):
            return {"not": rule_tree_as_json(child)}
        case Condition():
            return _condition_as_json(node)
    raise TypeError(f"not a rule node: {node!r}")


def _condition_as_json(condition: Condition) -> dict[str, Any]:
    spec = catalogue.FIELDS[condition.field]
    value = condition.value
    if condition.op in LIST_OPERATORS:
        json_value: Any = [_value_as_json(item) for item in sorted(value)]
    elif condition.op == Operator.BETWEEN:
        json_value = [_value_as_json(item) for item in value]
    else:
        json_value = _value_as_json(value)
    data: dict[str, Any] = {"field": condition.field, "op": str(condition.op), "value": json_value}
    if spec.takes_window:
        data["window"] = _window_as_json(condition.window)
    if spec.takes_kind:
        data["kind"] = condition.kind
    if spec.takes_purchase_scope:
        scope = condition.scope or PurchaseScope()
        for key in PURCHASE_SCOPE_KEYS:
            data[key] = getattr(scope, key)
    return dict(sorted(data.items()))


def _window_as_json(window: Window | None) -> dict[str, Any] | None:
    if window is None:
        return None
    if window.last_days is not None:
        return {"last_days": window.last_days}
    return {
        "from": window.start.isoformat() if window.start else None,
        "to": window.end.isoformat() if window.end else None,
    }


def _value_as_json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def _shown(value: Any) -> str:
    """A value as the marketer typed it, for messages."""
    return json.dumps(value, default=str, ensure_ascii=False)


def _child_path(path: str, step: str) -> str:
    return f"{path}.{step}" if path else step


def _instant(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    return start_of_local_day(value)


@dataclass
class _Parser:
    segment_lookup: SegmentLookup
    segment_id: int | None
    # Ids of the segments being parsed, outermost first, to refuse cycles.
    chain: list[int] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)
    resolved: dict[int, SegmentReference] = field(default_factory=dict)
    # Conditions parsed so far, and how many each resolved segment adds at every use.
    conditions: int = 0
    sizes: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.segment_id is not None:
            self.chain.append(self.segment_id)

    def node(self, data: Any, path: str, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise RuleError(path, f"groups are nested more than {MAX_DEPTH} levels deep")
        if not isinstance(data, Mapping):
            raise RuleError(path, NOT_A_NODE)
        keys = set(data)
        if keys == {"all"}:
            return AllOf(children=self.children(data["all"], path, "all", depth), path=path)
        if keys == {"any"}:
            return AnyOf(children=self.children(data["any"], path, "any", depth), path=path)
        if keys == {"not"}:
            child = self.node(data["not"], _child_path(path, "not"), depth + 1)
            return Not(child=child, path=path)
        if "field" in keys:
            return self.condition(data, path)
        raise RuleError(path, NOT_A_NODE)

    def children(self, data: Any, path: str, group: str, depth: int) -> tuple[Node, ...]:
        if not isinstance(data, Sequence) or isinstance(data, str):
            raise RuleError(path, f'"{group}" must be a list of conditions or groups')
        if not data:
            raise RuleError(path, f'"{group}" group is empty; add at least one condition')
        return tuple(
            self.node(child, _child_path(path, f"{group}[{index}]"), depth + 1)
            for index, child in enumerate(data)
        )

    def condition(self, data: Mapping[str, Any], path: str) -> Condition:
        self.count(1)
        name = data["field"]
        spec = catalogue.FIELDS.get(name) if isinstance(name, str) else None
        if spec is None:
            raise RuleError(path, f"unknown field {_shown(name)}")
        for key in data:
            if key not in CONDITION_KEYS:
                raise RuleError(path, f"unknown key {_shown(key)} in a condition")
        if "op" not in data:
            raise RuleError(path, 'a condition needs an "op"')
        try:
            op = Operator(data["op"])
        except ValueError:
            raise RuleError(path, f"unknown operator {_shown(data['op'])}") from None
        if op not in spec.operators:
            accepted = ", ".join(o.value for o in Operator if o in spec.operators)
            raise RuleError(
                path,
                f'field "{name}" does not accept operator "{op.value}" (accepted: {accepted})',
            )
        if "value" not in data:
            raise RuleError(path, 'a condition needs a "value"')
        window = self.window(spec, data.get("window"), path)
        kind = self.kind(spec, data.get("kind"), path)
        scope = self.scope(spec, data, path)
        value = self.value(spec, op, data["value"], path)
        references: tuple[SegmentReference, ...] = ()
        if spec.value_type == ValueType.SEGMENT:
            ids = value if isinstance(value, tuple) else (value,)
            references = tuple(self.reference(segment_id, path) for segment_id in ids)
        return Condition(
            field=name,
            op=op,
            value=value,
            path=path,
            window=window,
            kind=kind,
            scope=scope,
            references=references,
        )

    def count(self, conditions: int) -> None:
        self.conditions += conditions
        if self.conditions > MAX_CONDITIONS:
            raise TooManyConditionsError()

    def value(self, spec: "catalogue.FieldSpec", op: Operator, raw: Any, path: str) -> Any:
        if op == Operator.IS_NULL:
            if not isinstance(raw, bool):
                raise RuleError(path, f'operator "is_null" takes true or false, got {_shown(raw)}')
            return raw
        if op == Operator.WITHIN_LAST_DAYS:
            if isinstance(raw, bool) or not isinstance(raw, int) or raw <= 0:
                raise RuleError(
                    path,
                    f'operator "within_last_days" takes a whole number of days greater than '
                    f"0, got {_shown(raw)}",
                )
            if raw > catalogue.MAX_DAYS:
                raise RuleError(path, f"value must be at most {catalogue.MAX_DAYS} days")
            return raw
        if op in LIST_OPERATORS:
            if not isinstance(raw, list) or not raw:
                raise RuleError(path, f'operator "{op.value}" takes a non-empty list of values')
            values = [
                self.scalar(spec, item, path, f"value[{index}]") for index, item in enumerate(raw)
            ]
            if spec.value_type != ValueType.TEXT:
                return tuple(dict.fromkeys(values))
            # One spelling of each code, the first given: they match the same customers.
            spellings: dict[str, str] = {}
            for value in values:
                spellings.setdefault(value.lower(), value)
            return tuple(spellings.values())
        if op == Operator.BETWEEN:
            if not isinstance(raw, list) or len(raw) != 2:
                raise RuleError(path, 'operator "between" takes a list of two values [low, high]')
            low = self.scalar(spec, raw[0], path, "value[0]")
            high = self.scalar(spec, raw[1], path, "value[1]")
            if spec.value_type == ValueType.DATETIME:
                in_order = _instant(low) <= _instant(high)
            else:
                in_order = low <= high
            if not in_order:
                raise RuleError(
                    path, f'operator "between" needs the low value first, got {_shown(raw)}'
                )
            return (low, high)
        if isinstance(raw, list | dict):
            raise RuleError(path, f'operator "{op.value}" takes a single value, not a list')
        return self.scalar(spec, raw, path, "value")

    def scalar(self, spec: "catalogue.FieldSpec", raw: Any, path: str, label: str) -> Any:
        match spec.value_type:
            case ValueType.INTEGER | ValueType.SEGMENT:
                if isinstance(raw, bool) or not isinstance(raw, int):
                    raise RuleError(path, f"{label} must be a whole number, got {_shown(raw)}")
                if abs(raw) > MAX_WHOLE_NUMBER:
                    raise RuleError(path, f"{label} must be at most {MAX_WHOLE_NUMBER}")
                value: Any = raw
            case ValueType.DECIMAL:
                value = _decimal(raw)
                if value is None:
                    raise RuleError(path, f"{label} must be a number, got {_shown(raw)}")
            case ValueType.BOOLEAN:
                if not isinstance(raw, bool):
                    raise RuleError(path, f"{label} must be true or false, got {_shown(raw)}")
                value = raw
            case ValueType.DATETIME:
                value = _date_or_datetime(raw)
                if value is None:
                    raise RuleError(
                        path,
                        f"{label} must be a date (YYYY-MM-DD) or a date-time with its UTC "
                        f"offset, got {_shown(raw)}",
                    )
            case ValueType.CHOICE:
                values = [choice_value for choice_value, _ in spec.choices]
                if raw not in values:
                    raise RuleError(
                        path,
                        f"{label} {_shown(raw)} is not a known {spec.label.lower()} "
                        f"(expected one of {', '.join(values)})",
                    )
                value = raw
            case _:
                value = _text(raw, path, label)
        if spec.minimum is not None and value < spec.minimum:
            raise RuleError(path, f"{label} must be at least {spec.minimum}, got {_shown(raw)}")
        if spec.maximum is not None and value > spec.maximum:
            raise RuleError(path, f"{label} must be at most {spec.maximum}, got {_shown(raw)}")
        return value

    def window(self, spec: "catalogue.FieldSpec", raw: Any, path: str) -> Window | None:
        if raw is None:
            return None
        if not spec.takes_window:
            raise RuleError(path, f'field "{spec.name}" takes no window')
        if not isinstance(raw, Mapping):
            raise RuleError(path, WINDOW_SHAPE)
        keys = {key for key, value in raw.items() if value is not None}
        if keys == {"last_days"}:
            days = raw["last_days"]
            if isinstance(days, bool) or not isinstance(days, int) or days <= 0:
                raise RuleError(
                    path,
                    f'window "last_days" must be a whole number of days greater than 0, '
                    f"got {_shown(days)}",
                )
            if days > catalogue.MAX_DAYS:
                raise RuleError(
                    path, f'window "last_days" must be at most {catalogue.MAX_DAYS} days'
                )
            return Window(last_days=days)
        if not keys or not keys <= {"from", "to"} or not set(raw) <= {"from", "to"}:
            raise RuleError(path, WINDOW_SHAPE)
        bounds = {}
        for key in ("from", "to"):
            text = raw.get(key)
            if text is None:
                bounds[key] = None
                continue
            day = _date(text)
            if day is None:
                raise RuleError(
                    path, f'window "{key}" must be a date (YYYY-MM-DD), got {_shown(text)}'
                )
            bounds[key] = day
        if bounds["from"] and bounds["to"] and bounds["from"] > bounds["to"]:
            raise RuleError(
                path,
                f'window "from" {bounds["from"].isoformat()} is after "to" '
                f"{bounds['to'].isoformat()}",
            )
        return Window(start=bounds["from"], end=bounds["to"])

    def kind(self, spec: "catalogue.FieldSpec", raw: Any, path: str) -> str | None:
        if raw is None:
            return None
        if not spec.takes_kind:
            raise RuleError(path, f'field "{spec.name}" takes no event kind')
        kinds = [kind_value for kind_value, _ in catalogue.EVENT_KINDS]
        if raw not in kinds:
            raise RuleError(
                path,
                f"kind {_shown(raw)} is not an event kind (expected one of {', '.join(kinds)})",
            )
        return raw

    def scope(
        self, spec: "catalogue.FieldSpec", data: Mapping[str, Any], path: str
    ) -> PurchaseScope | None:
        given = {key: data[key] for key in PURCHASE_SCOPE_KEYS if data.get(key) is not None}
        if not given:
            return None
        if not spec.takes_purchase_scope:
            raise RuleError(path, f'field "{spec.name}" takes no "{next(iter(given))}"')
        return PurchaseScope(**{key: _text(text, path, f'"{key}"') for key, text in given.items()})

    def name(self, segment_id: int) -> str:
        """A segment's name for messages (the edited one is looked up only when needed)."""
        if segment_id not in self.names:
            stored = self.segment_lookup(segment_id)
            self.names[segment_id] = stored.name if stored else "this segment"
        return self.names[segment_id]

    def reference(self, segment_id: int, path: str) -> SegmentReference:
        if segment_id in self.chain:
            loop = [*self.chain[self.chain.index(segment_id) :], segment_id]
            names = " -> ".join(f'"{self.name(chain_id)}"' for chain_id in loop)
            raise SegmentCycleError(path, f"in_segment would make a cycle: {names}")
        if segment_id in self.resolved:
            # Compiled again at each use, so counted again.
            self.count(self.sizes.get(segment_id, 0))
            return self.resolved[segment_id]
        stored = self.segment_lookup(segment_id)
        if stored is None:
            raise RuleError(path, f"segment {segment_id} does not exist")
        rule_tree = None
        if stored.kind == SegmentKind.DYNAMIC:
            self.names[segment_id] = stored.name
            self.chain.append(segment_id)
            before = self.conditions
            try:
                rule_tree = self.node(stored.rules, "", 0)
            except TooManyConditionsError:
                raise
            except SegmentCycleError as error:
                # Reported at the reference the marketer wrote, not inside the other segment.
                raise SegmentCycleError(path, error.message) from None
            except RuleError as error:
                raise RuleError(
                    path, f'segment "{stored.name}" has invalid rules: {error}'
                ) from None
            finally:
                self.chain.pop()
            self.sizes[segment_id] = self.conditions - before
        reference = SegmentReference(
            segment_id=segment_id,
            name=stored.name,
            kind=SegmentKind(stored.kind),
            rule_tree=rule_tree,
        )
        self.resolved[segment_id] = reference
        return reference


def _text(raw: Any, path: str, label: str) -> str:
    """A text code, trimmed; NUL is refused here (PostgreSQL text cannot hold it)."""
    if not isinstance(raw, str) or not raw.strip():
        raise RuleError(path, f"{label} must be non-empty text, got {_shown(raw)}")
    if "\x00" in raw:
        raise RuleError(path, f"{label} must not contain a NUL character")
    text = raw.strip()
    if len(text) > MAX_TEXT_LENGTH:
        raise RuleError(path, f"{label} is longer than {MAX_TEXT_LENGTH} characters")
    return text


def _decimal(raw: Any) -> Decimal | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, float):
        return Decimal(str(raw)) if math.isfinite(raw) else None
    if isinstance(raw, str):
        try:
            value = Decimal(raw.strip())
        except InvalidOperation:
            return None
        return value if value.is_finite() else None
    return None


def _date(raw: Any) -> date | None:
    if not isinstance(raw, str) or len(raw) != 10:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None
    return day if EARLIEST_YEAR <= day.year <= LATEST_YEAR else None


def _date_or_datetime(raw: Any) -> date | datetime | None:
    day = _date(raw)
    if day is not None:
        return day
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        return None
    # A date-time without an offset would mean different instants on different servers.
    return moment if moment.tzinfo is not None else None
