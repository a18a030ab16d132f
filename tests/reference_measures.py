"""The order-derived fields of SPEC §1 and the README's "Customer data" section, in plain
Python, for tests only: computed customer by customer from the orders, never from the
product's SQL, its stored columns or its stage history.

Every function takes the customer's orders as they are (any status, any time) and the
instant; only paid orders placed at or before it count.
"""

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Line:
    category: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class PlacedOrder:
    placed_at: datetime
    amount: Decimal
    status: str = "paid"
    channel: str = ""
    coupon_code: str = ""
    lines: tuple[Line, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Thresholds:
    """The lifecycle settings, SPEC §1 defaults."""

    churn_days: int = 90
    silent_days: int = 30
    new_days: int = 30
    mature_orders: int = 5
    window_days: int = 30
    high_value_min_spent: Decimal = Decimal("2000")
    medium_value_min_spent: Decimal = Decimal("500")


def paid(orders: Iterable[PlacedOrder], as_of: datetime) -> list[PlacedOrder]:
    return [o for o in orders if o.status == "paid" and o.placed_at <= as_of]


def stage(orders, as_of: datetime, t: Thresholds = Thresholds()) -> str:
    """Seven rules, first match wins; "more than N days ago" is before as_of - N days,
    "within the last N days" is (as_of - N days, as_of]."""
    mine = paid(orders, as_of)
    if not mine:
        return "potential"
    last = max(o.placed_at for o in mine)
    first = min(o.placed_at for o in mine)
    if last < as_of - timedelta(days=t.churn_days):
        return "churned"
    if last < as_of - timedelta(days=t.silent_days):
        return "silent"
    if first > as_of - timedelta(days=t.new_days):
        return "new"
    window = timedelta(days=t.window_days)
    recent = sum(1 for o in mine if o.placed_at > as_of - window)
    previous = sum(1 for o in mine if as_of - 2 * window < o.placed_at <= as_of - window)
    if recent >= t.mature_orders:
        return "mature"
    if recent < previous:
        return "declining"
    return "growing"


def value_tier(orders, as_of: datetime, t: Thresholds = Thresholds()) -> str:
    mine = paid(orders, as_of)
    if not mine:
        return "none"
    spent = sum(o.amount for o in mine)
    if spent >= t.high_value_min_spent:
        return "high"
    if spent >= t.medium_value_min_spent:
        return "medium"
    return "low"


def is_returning(orders, as_of: datetime) -> bool:
    return len(paid(orders, as_of)) >= 2


def weekend_buyer(orders, as_of: datetime, zone: ZoneInfo) -> bool | None:
    mine = paid(orders, as_of)
    if not mine:
        return None
    weekend = sum(1 for o in mine if o.placed_at.astimezone(zone).isoweekday() >= 6)
    return weekend * 2 > len(mine)


def promotion_sensitivity(orders, as_of: datetime) -> Decimal | None:
    mine = paid(orders, as_of)
    if not mine:
        return None
    share = Decimal(sum(1 for o in mine if o.coupon_code)) / Decimal(len(mine))
    return share.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def _most_frequent(values_and_times: list[tuple[str, datetime]]) -> str:
    """Most frequent value; ties to the one used most recently, then alphabetical."""
    if not values_and_times:
        return ""
    counts = Counter(value for value, _ in values_and_times)
    latest = defaultdict(lambda: datetime.min.replace(tzinfo=ZoneInfo("UTC")))
    for value, moment in values_and_times:
        latest[value] = max(latest[value], moment)
    return min(counts, key=lambda value: (-counts[value], -latest[value].timestamp(), value))


def preferred_channel(orders, as_of: datetime) -> str:
    return _most_frequent([(o.channel, o.placed_at) for o in paid(orders, as_of) if o.channel])


def daypart(moment: datetime, zone: ZoneInfo) -> str:
    """Morning 05-11, afternoon 12-17, evening 18-22, night 23-04, local hours."""
    hour = moment.astimezone(zone).hour
    if 5 <= hour <= 11:
        return "morning"
    if 12 <= hour <= 17:
        return "afternoon"
    if 18 <= hour <= 22:
        return "evening"
    return "night"


def usual_daypart(orders, as_of: datetime, zone: ZoneInfo) -> str:
    return _most_frequent([(daypart(o.placed_at, zone), o.placed_at) for o in paid(orders, as_of)])


def preferred_category(orders, as_of: datetime) -> str:
    """The category with the largest spend (quantity x unit price); ties alphabetical."""
    spend: dict[str, Decimal] = defaultdict(Decimal)
    for order in paid(orders, as_of):
        for line in order.lines:
            if line.category:
                spend[line.category] += line.quantity * line.unit_price
    if not spend:
        return ""
    return min(spend, key=lambda category: (-spend[category], category))


# RFM --------------------------------------------------------------------------------------

RFM_MAP = (
    (lambda r, f: r <= 2 and f <= 2, "hibernating"),
    (lambda r, f: r <= 2 and f <= 4, "at_risk"),
    (lambda r, f: r <= 2, "cant_lose"),
    (lambda r, f: r == 3 and f <= 2, "about_to_sleep"),
    (lambda r, f: r == 3 and f == 3, "need_attention"),
    (lambda r, f: r <= 4 and f >= 4, "loyal"),
    (lambda r, f: r == 4 and f == 1, "promising"),
    (lambda r, f: r == 5 and f == 1, "new_customers"),
    (lambda r, f: f <= 3, "potential_loyalist"),
)


@dataclass(frozen=True)
class Rfm:
    recency: int
    frequency: int
    monetary: int
    group: str


def tile_edges(values: list) -> list:
    """Sorted values cut into five tiles of as equal size as possible (the first ones one
    larger); the last value of each of the first four tiles; fewer than five values: the
    missing tiles repeat the last edge."""
    count = len(values)
    sizes = [count // 5 + (1 if tile < count % 5 else 0) for tile in range(5)]
    edges, position = [], 0
    for size in sizes[:4]:
        if size:
            position += size
            edges.append(values[position - 1])
    return (edges + [edges[-1]] * 4)[:4]


def rfm(orders_by_customer: dict[Hashable, Iterable[PlacedOrder]], as_of: datetime) -> dict:
    """Scores and group of every customer with a paid order at as_of."""
    totals = {}
    for customer, orders in orders_by_customer.items():
        mine = paid(orders, as_of)
        if mine:
            totals[customer] = (
                max(o.placed_at for o in mine),
                len(mine),
                sum(o.amount for o in mine),
            )
    if not totals:
        return {}
    recency_edges = tile_edges(sorted((t[0] for t in totals.values()), reverse=True))
    frequency_edges = tile_edges(sorted(t[1] for t in totals.values()))
    monetary_edges = tile_edges(sorted(t[2] for t in totals.values()))
    scores = {}
    for customer, (last, count, spent) in totals.items():
        r = 5 - sum(1 for edge in recency_edges if last < edge)
        f = 1 + sum(1 for edge in frequency_edges if count > edge)
        m = 1 + sum(1 for edge in monetary_edges if spent > edge)
        group = next((name for rule, name in RFM_MAP if rule(r, f)), "champions")
        scores[customer] = Rfm(r, f, m, group)
    return scores
