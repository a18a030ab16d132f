"""A plain-Python evaluator of parsed rule trees, for tests only (house rule 6).

It reads the customers, orders, items, events, stage changes and snapshot members into
Python objects and decides each condition customer by customer, straight from SPEC §1-2,
without sharing code with segments.compiler or segments.fields. The property test checks
that the compiled SQL selects exactly the customers this evaluator selects.

Time rules as the SPEC words them: only rows at or before as_of count; `last_days` N is
(as_of - N days, as_of]; from/to and date values are calendar dates in TIME_ZONE, compared on
the row's local date; `days_since_last_order` is rounded down. Every order-derived label
(stage, new/returning, value tier, preferences, RFM) is computed from the orders at as_of by
tests.reference_measures, whatever the stored columns or the stage history say.

Text codes (SPEC §2 as the issue words it: cities, tiers, categories, SKUs, stores,
channels, tags, consent codes) are equal when they are equal without surrounding spaces and
in lower case, whichever side is written how; a code that is blank once trimmed is unknown.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from crm.models import BehaviourEvent, Customer, Order, OrderItem
from segments.enums import Operator, SegmentKind
from segments.models import SegmentMember
from segments.rules import AllOf, AnyOf, Condition, Node, Not
from tests import reference_measures

Op = Operator
CENT = Decimal("0.01")
# The fields whose values are text codes (compared by `same_code`).
CODE_FIELDS = frozenset(
    {
        "city",
        "region",
        "occupation",
        "member_tier",
        "acquisition_channel",
        "preferred_category",
        "preferred_channel",
    }
)


def as_code(text: str) -> str:
    return text.strip().lower()


def same_code(text: str, wanted) -> bool:
    """Whether `text` is the code `wanted` (one code, or any of a tuple of codes)."""
    codes = wanted if isinstance(wanted, tuple) else (wanted,)
    return as_code(text) in {as_code(code) for code in codes}


@dataclass
class Item:
    sku: str
    category: str
    quantity: int
    unit_price: Decimal


@dataclass
class PlacedOrder:
    placed_at: datetime
    amount: Decimal
    status: str
    store: str
    channel: str
    items: list[Item] = field(default_factory=list)
    coupon_code: str = ""

    def as_measured(self) -> reference_measures.PlacedOrder:
        return reference_measures.PlacedOrder(
            placed_at=self.placed_at,
            amount=self.amount,
            status=self.status,
            channel=self.channel,
            coupon_code=self.coupon_code,
            lines=tuple(
                reference_measures.Line(item.category, item.quantity, item.unit_price)
                for item in self.items
            ),
        )


@dataclass
class Person:
    pk: int
    row: dict[str, Any]
    tags: set[str]
    orders: list[PlacedOrder]
    events: list[tuple[str, datetime]]

    @property
    def measured_orders(self) -> list[reference_measures.PlacedOrder]:
        return [order.as_measured() for order in self.orders]


@dataclass
class Dataset:
    people: list[Person]
    snapshot_members: dict[int, set[int]]


def load_dataset() -> Dataset:
    """Everything the rules can read, from the database, in plain Python objects."""
    items = defaultdict(list)
    for row in OrderItem.objects.values("order_id", "sku", "category", "quantity", "unit_price"):
        items[row["order_id"]].append(
            Item(row["sku"], row["category"], row["quantity"], row["unit_price"])
        )
    orders = defaultdict(list)
    for row in Order.objects.values(
        "pk", "customer_id", "placed_at", "amount", "status", "store", "channel", "coupon_code"
    ):
        orders[row["customer_id"]].append(
            PlacedOrder(
                row["placed_at"],
                row["amount"],
                row["status"],
                row["store"],
                row["channel"],
                items[row["pk"]],
                row["coupon_code"],
            )
        )
    events = defaultdict(list)
    for row in BehaviourEvent.objects.values("customer_id", "kind", "occurred_at"):
        events[row["customer_id"]].append((row["kind"], row["occurred_at"]))
    tags = defaultdict(set)
    for customer_id, name in Customer.tags.through.objects.values_list("customer_id", "tag__name"):
        tags[customer_id].add(name)
    members = defaultdict(set)
    for segment_id, customer_id in SegmentMember.objects.values_list("segment_id", "customer_id"):
        members[segment_id].add(customer_id)
    people = [
        Person(row["id"], row, tags[row["id"]], orders[row["id"]], events[row["id"]])
        for row in Customer.objects.values()
    ]
    return Dataset(people=people, snapshot_members=dict(members))


def evaluate(node: Node, dataset: Dataset, *, as_of: datetime) -> set[int]:
    """The pks of the customers the tree selects at as_of."""
    judge = _Judge(dataset=dataset, as_of=as_of, zone=ZoneInfo(settings.TIME_ZONE))
    return {person.pk for person in dataset.people if judge.matches(node, person)}


@dataclass
class _Judge:
    dataset: Dataset
    as_of: datetime
    zone: ZoneInfo
    _rfm: dict | None = None

    def rfm(self, person: Person) -> "reference_measures.Rfm | None":
        if self._rfm is None:
            self._rfm = reference_measures.rfm(
                {p.pk: p.measured_orders for p in self.dataset.people}, self.as_of
            )
        return self._rfm.get(person.pk)

    def matches(self, node: Node, person: Person) -> bool:
        match node:
            case AllOf(children=children):
                return all(self.matches(child, person) for child in children)
            case AnyOf(children=children):
                return any(self.matches(child, person) for child in children)
            case Not(child=child):
                return not self.matches(child, person)
            case Condition():
                return self.condition(node, person)
        raise TypeError(node)

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def in_window(self, moment: datetime, window) -> bool:
        if moment > self.as_of:
            return False
        if window is None:
            return True
        if window.last_days is not None:
            return moment > self.as_of - timedelta(days=window.last_days)
        day = self.local_date(moment)
        return (window.start is None or day >= window.start) and (
            window.end is None or day <= window.end
        )

    def paid_orders(self, condition: Condition, person: Person) -> list[PlacedOrder]:
        scope = condition.scope
        found = []
        for order in person.orders:
            if order.status != "paid" or not self.in_window(order.placed_at, condition.window):
                continue
            if scope is not None:
                if scope.store and not same_code(order.store, scope.store):
                    continue
                if scope.channel and not same_code(order.channel, scope.channel):
                    continue
                if (scope.category or scope.sku) and not self.scoped_items(condition, order):
                    continue
            found.append(order)
        return found

    def scoped_items(self, condition: Condition, order: PlacedOrder) -> list[Item]:
        scope = condition.scope
        return [
            item
            for item in order.items
            if (not scope.category or same_code(item.category, scope.category))
            and (not scope.sku or same_code(item.sku, scope.sku))
        ]

    def spent(self, condition: Condition, orders: list[PlacedOrder]) -> Decimal:
        scope = condition.scope
        if scope is not None and (scope.category or scope.sku):
            return sum(
                (
                    item.quantity * item.unit_price
                    for order in orders
                    for item in self.scoped_items(condition, order)
                ),
                Decimal(0),
            )
        return sum((order.amount for order in orders), Decimal(0))

    def value_of(self, condition: Condition, person: Person) -> Any:
        """The customer's value of the field at as_of (None when unknown)."""
        row = person.row
        name = condition.field
        match name:
            case "age":
                born = row["birth_date"]
                if born is None:
                    return None
                today = self.local_date(self.as_of)
                return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
            case "birth_month":
                return row["birth_date"].month if row["birth_date"] else None
            case "order_count":
                return len(self.paid_orders(condition, person))
            case "total_spent":
                return self.spent(condition, self.paid_orders(condition, person))
            case "avg_order_value":
                orders = self.paid_orders(condition, person)
                if not orders:
                    return None
                average = self.spent(condition, orders) / len(orders)
                return average.quantize(CENT, rounding=ROUND_HALF_UP)
            case "first_order_at" | "last_order_at" | "days_since_last_order":
                times = [order.placed_at for order in self.paid_orders(condition, person)]
                if not times:
                    return None
                if name == "first_order_at":
                    return min(times)
                if name == "last_order_at":
                    return max(times)
                return (self.as_of - max(times)) // timedelta(days=1)
            case "event_count":
                return sum(
                    1
                    for kind, moment in person.events
                    if self.in_window(moment, condition.window)
                    and (condition.kind is None or kind == condition.kind)
                )
            case "lifecycle_stage":
                return reference_measures.stage(person.measured_orders, self.as_of)
            case "value_tier":
                return reference_measures.value_tier(person.measured_orders, self.as_of)
            case "is_returning":
                return reference_measures.is_returning(person.measured_orders, self.as_of)
            case "weekend_buyer":
                return reference_measures.weekend_buyer(
                    person.measured_orders, self.as_of, self.zone
                )
            case "promotion_sensitivity":
                return reference_measures.promotion_sensitivity(person.measured_orders, self.as_of)
            case "preferred_channel":
                preferred = reference_measures.preferred_channel(person.measured_orders, self.as_of)
                return as_code(preferred) or None
            case "preferred_category":
                preferred = reference_measures.preferred_category(
                    person.measured_orders, self.as_of
                )
                return as_code(preferred) or None
            case "usual_daypart":
                return (
                    reference_measures.usual_daypart(person.measured_orders, self.as_of, self.zone)
                    or None
                )
            case "rfm_group" | "rfm_recency" | "rfm_frequency" | "rfm_monetary":
                scores = self.rfm(person)
                if scores is None:
                    return None
                return getattr(scores, name.removeprefix("rfm_"))
        value = row[name]
        if name in CODE_FIELDS:
            return as_code(value) or None
        if value == "" and name not in ("is_member",):
            return None
        return value

    def condition(self, condition: Condition, person: Person) -> bool:
        op, value = condition.op, condition.value
        name = condition.field
        if name == "tag":
            has = any(same_code(tag, value) for tag in person.tags)
            return has if op == Op.HAS else not has
        if name == "consent":
            has = any(
                same_code(channel, value) and agreed is True
                for channel, agreed in person.row["consent"].items()
            )
            return has if op == Op.HAS else not has
        if name in ("bought_category", "bought_sku", "bought_in_store"):
            bought = any(
                same_code(order.store, value)
                if name == "bought_in_store"
                else any(
                    same_code(item.category if name == "bought_category" else item.sku, value)
                    for item in order.items
                )
                for order in self.paid_orders(condition, person)
            )
            return bought if op in (Op.EQ, Op.IN) else not bought
        if name == "in_segment":
            inside = any(self.in_segment(reference, person) for reference in condition.references)
            return inside if op in (Op.EQ, Op.IN) else not inside
        actual = self.value_of(condition, person)
        if name in CODE_FIELDS and op != Op.IS_NULL:
            value = tuple(map(as_code, value)) if isinstance(value, tuple) else as_code(value)
        return self.compare(op, actual, value)

    def in_segment(self, reference, person: Person) -> bool:
        if reference.kind == SegmentKind.SNAPSHOT:
            return person.pk in self.dataset.snapshot_members.get(reference.segment_id, set())
        return self.matches(reference.rule_tree, person)

    def compare(self, op: Operator, actual: Any, value: Any) -> bool:
        match op:
            case Op.IS_NULL:
                return (actual is None) == value
            case Op.NE:
                return not self.compare(Op.EQ, actual, value)
            case Op.NOT_IN:
                return not self.compare(Op.IN, actual, value)
        if actual is None:
            return False
        if isinstance(actual, datetime):
            return self.compare_moment(op, actual, value)
        match op:
            case Op.EQ:
                return actual == value
            case Op.IN:
                return actual in value
            case Op.GT:
                return actual > value
            case Op.GTE:
                return actual >= value
            case Op.LT:
                return actual < value
            case Op.LTE:
                return actual <= value
            case Op.BETWEEN:
                return value[0] <= actual <= value[1]
        raise ValueError(op)

    def compare_moment(self, op: Operator, moment: datetime, value: Any) -> bool:
        def after_start(bound) -> bool:
            if isinstance(bound, datetime):
                return moment >= bound
            return self.local_date(moment) >= bound

        def before_end(bound) -> bool:
            if isinstance(bound, datetime):
                return moment <= bound
            return self.local_date(moment) <= bound

        match op:
            case Op.BEFORE:
                if isinstance(value, datetime):
                    return moment < value
                return self.local_date(moment) < value
            case Op.AFTER:
                if isinstance(value, datetime):
                    return moment > value
                return self.local_date(moment) > value
            case Op.BETWEEN:
                return after_start(value[0]) and before_end(value[1])
            case Op.WITHIN_LAST_DAYS:
                return self.as_of - timedelta(days=value) < moment <= self.as_of
        raise ValueError(op)
