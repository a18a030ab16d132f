"""Demo shoppers: one customer's rows after another, from one seeded random stream.

`ShopperGenerator` draws a customer's traits first (where they live, how they shop, how
often, with what habits) and then their rows (profile, identities, tags, orders with items,
behaviour events) as plain Python values, so the same seed gives the same rows whatever
the database or batch size. Nothing is dated after `as_of`; the local calendar of
`TIME_ZONE` decides the day, weekday and hour. Loading the rows is demo.loading's job.
"""

import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from crm.enums import EventKind
from demo.shop import (
    ACQUISITION_CHANNEL_WEIGHTS,
    BATCH_CUSTOMERS,
    CATEGORY_WEIGHTS,
    CITIES,
    CONSENT_CHANNELS,
    DEMO_COUPONS,
    GIVEN_NAMES,
    MAX_ORDERS_PER_CUSTOMER,
    NEVER_BUY_SHARE,
    OCCUPATIONS,
    ONE_TIME_SHARE,
    PRODUCTS,
    REPEAT_ORDERS_MU,
    REPEAT_ORDERS_SIGMA,
    SALES_CHANNEL_WEIGHTS,
    SURNAMES,
    UNKNOWN_CITY_SHARE,
    Calendar,
    City,
    Product,
)

_DAYPART_HOURS = {
    "morning": tuple(range(5, 12)),
    "afternoon": tuple(range(12, 18)),
    "evening": tuple(range(18, 23)),
    "night": (23, 0, 1, 2, 3, 4),
}
_DAYPART_WEIGHTS = {"morning": 18, "afternoon": 27, "evening": 45, "night": 10}
_ONLINE_CHANNELS = ("app", "mini_program", "web")
_VISIT_PAYLOADS = tuple(
    json.dumps({"page": page}) for page in ("home", "category", "product", "campaign", "search")
)
_SHARE_PAYLOADS = tuple(
    json.dumps({"to": target}) for target in ("wechat_friend", "wechat_moments", "weibo")
)
_COMPLAINT_PAYLOADS = tuple(
    json.dumps({"topic": topic}) for topic in ("delivery", "quality", "taste", "service")
)
_REVIEW_PAYLOADS = tuple(json.dumps({"stars": stars}) for stars in (1, 2, 3, 4, 4, 5, 5, 5, 5, 5))
# Half the customers told us the flavour they like.
_ATTRIBUTE_PAYLOADS = (
    *(["{}"] * 4),
    *(json.dumps({"flavour": flavour}) for flavour in ("spicy", "sweet", "savoury", "mild")),
)
_EMPTY_JSON = "{}"
_ZERO = Decimal("0.00")
# Members earn points on paid spend; tiers follow lifetime paid spend.
_PLATINUM_SPEND = Decimal("5000")
_GOLD_SPEND = Decimal("1500")
_VIP_SPEND = Decimal("6000")

# Free-standing events (not tied to an order) by kind; store visits go to store shoppers.
_FREE_EVENT_WEIGHTS = {
    EventKind.VISIT.value: 48,
    EventKind.LOGIN.value: 22,
    EventKind.FAVORITE.value: 7,
    EventKind.ADD_TO_CART.value: 14,
    EventKind.STORE_VISIT.value: 5,
    EventKind.SHARE.value: 3,
    EventKind.COMPLAINT.value: 1,
}
_LOOKUP_SIZE = 1000


def _lookup_table(weights: dict[str, float]) -> tuple[str, ...]:
    """A table where each key fills a share of the slots equal to its weight, so a weighted
    pick is one multiplication and an index (`table[int(random() * _LOOKUP_SIZE)]`); the
    generator makes ~50 picks per customer."""
    total = sum(weights.values())
    table: list[str] = []
    running = 0.0
    for key, weight in weights.items():
        running += weight
        table.extend([key] * (round(running / total * _LOOKUP_SIZE) - len(table)))
    return tuple(table)


@dataclass
class ShopperBatch:
    """The rows of a run of consecutive customers, one list per table, in column order."""

    customers: list[tuple] = field(default_factory=list)
    identities: list[tuple] = field(default_factory=list)
    customer_tags: list[tuple] = field(default_factory=list)
    orders: list[tuple] = field(default_factory=list)
    order_items: list[tuple] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)


@dataclass(slots=True)
class _Shopper:
    """One customer's traits, drawn before their rows so the rows agree with each other."""

    pk: int
    surname: str
    given: str
    gender: str
    birth_date: date | None
    city: City | None
    occupation: str
    phone: str
    email: str
    registered_day: int
    preferred_channel: str
    online_channel: str
    home_store: str
    favourite: str
    usual_hours: tuple[int, ...]
    # Below 0.3 a weekend shopper, above 0.75 a weekday shopper, else no habit.
    week_habit: float
    coupon_propensity: float
    wholesale: bool
    influencer: bool
    basket_scale: float
    order_count: int
    engagement: float


@dataclass(slots=True)
class _History:
    """What a customer's orders add up to, for the profile written after them."""

    paid_total: Decimal = _ZERO
    gift_boxes: int = 0
    first_order_at: datetime | None = None
    # Event tuples of kind, occurred_at, channel, sku, category and payload.
    events: list[tuple] = field(default_factory=list)


class ShopperGenerator:
    """Makes one customer's rows after another from one seeded random stream."""

    def __init__(self, *, seed: int, as_of: datetime, events_per_customer: int, tag_ids: dict):
        # Demo data, not secrets: a reproducible stream is the point.
        self.rng = random.Random(seed)  # noqa: S311
        self.random = self.rng.random
        self.as_of = as_of
        self.events_per_customer = events_per_customer
        self.tag_ids = tag_ids
        self.calendar = Calendar(as_of=as_of)
        self.seconds = [timedelta(seconds=second) for second in range(86400)]
        self.city_table = _lookup_table({city.name: city.weight for city in CITIES})
        self.cities = {city.name: city for city in CITIES}
        self.category_table = _lookup_table(CATEGORY_WEIGHTS)
        self.shelves = {
            category: tuple(p for p in PRODUCTS if p.category == category)
            for category in CATEGORY_WEIGHTS
        }
        self.sales_channel_table = _lookup_table(SALES_CHANNEL_WEIGHTS)
        self.acquisition_table = _lookup_table(ACQUISITION_CHANNEL_WEIGHTS)
        self.daypart_table = _lookup_table(_DAYPART_WEIGHTS)
        self.event_table = _lookup_table(_FREE_EVENT_WEIGHTS)
        self.consent_payloads = tuple(
            json.dumps({code: bool(bits >> i & 1) for i, code in enumerate(CONSENT_CHANNELS)})
            for bits in range(2 ** len(CONSENT_CHANNELS))
        )
        self.store_payloads = {
            store: json.dumps({"store": store}) for city in CITIES for store in city.stores
        }

    def batches(
        self, *, customers: int, first_customer_pk: int, first_order_pk: int
    ) -> Iterator[ShopperBatch]:
        """Batches of at most BATCH_CUSTOMERS customers, numbered from the given ids."""
        order_pk = first_order_pk
        for start in range(0, customers, BATCH_CUSTOMERS):
            batch = ShopperBatch()
            end = min(customers, start + BATCH_CUSTOMERS)
            for pk in range(first_customer_pk + start, first_customer_pk + end):
                order_pk = self._customer(batch, pk=pk, first_order_pk=order_pk)
            yield batch

    def _customer(self, batch: ShopperBatch, *, pk: int, first_order_pk: int) -> int:
        """Append one customer's rows to `batch`; returns the next free order id."""
        shopper = self._shopper(pk)
        history = _History()
        order_pk = first_order_pk
        for position, placed_at in enumerate(self._order_times(shopper)):
            self._order(
                batch, shopper, history, order_pk=order_pk, placed_at=placed_at, first=position == 0
            )
            order_pk += 1
        self._free_events(shopper, history)
        self._event_rows(batch, shopper, history)
        self._profile_rows(batch, shopper, history)
        return order_pk

    def _pick(self, table: tuple[str, ...]) -> str:
        return table[int(self.random() * _LOOKUP_SIZE)]

    def _product(self, category: str) -> Product:
        shelf = self.shelves[category]
        # The smaller of two uniform picks: the first products on a shelf sell best.
        random = self.random
        return shelf[min(int(random() * len(shelf)), int(random() * len(shelf)))]

    def _time_of_day(self, day: int, hours: tuple[int, ...]) -> datetime:
        """A moment of local `day` within `hours`, never after as_of."""
        random = self.random
        moment = (
            self.calendar.starts[day]
            + self.seconds[hours[int(random() * len(hours))] * 3600 + int(random() * 3600)]
        )
        if moment > self.as_of:
            moment = self.as_of - self.seconds[int(random() * 3600) + 1]
        return moment

    def _shopper(self, pk: int) -> _Shopper:
        rng, random = self.rng, self.random
        gender_draw = random()
        gender = (
            "female"
            if gender_draw < 0.52
            else "male"
            if gender_draw < 0.94
            else "other"
            if gender_draw < 0.95
            else ""
        )
        age = int(rng.triangular(18, 70, 31))
        birth_date = (
            date(self.as_of.year - age, 1, 1) + timedelta(days=int(random() * 365))
            if random() < 0.9
            else None
        )
        city = None if random() < UNKNOWN_CITY_SHARE else self.cities[self._pick(self.city_table)]
        if age <= 22 and random() < 0.7:
            occupation = "student"
        elif random() < 0.8:
            occupation = OCCUPATIONS[int(random() * len(OCCUPATIONS))]
            if occupation == "retired" and age < 50:
                occupation = "office worker"
        else:
            occupation = ""
        surname = SURNAMES[int(random() * len(SURNAMES))]
        given = GIVEN_NAMES[int(random() * len(GIVEN_NAMES))]
        phone = f"1{'3589'[int(random() * 4)]}{int(random() * 1e9):09d}" if random() < 0.95 else ""
        email = f"{given.lower()}.{surname.lower()}{pk % 997}@example.com" if random() < 0.4 else ""
        preferred_channel = self._pick(self.sales_channel_table)
        if preferred_channel == "store" and city is None:
            preferred_channel = "app"
        if preferred_channel == "store":
            online_channel = _ONLINE_CHANNELS[int(random() * len(_ONLINE_CHANNELS))]
        else:
            online_channel = preferred_channel
        activity = random()
        if activity < NEVER_BUY_SHARE:
            order_count = 0
        elif activity < NEVER_BUY_SHARE + ONE_TIME_SHARE:
            order_count = 1
        else:
            repeat = int(rng.lognormvariate(REPEAT_ORDERS_MU, REPEAT_ORDERS_SIGMA))
            order_count = min(MAX_ORDERS_PER_CUSTOMER, 2 + repeat)
        return _Shopper(
            pk=pk,
            surname=surname,
            given=given,
            gender=gender,
            birth_date=birth_date,
            city=city,
            occupation=occupation,
            phone=phone,
            email=email,
            # Sign-ups grow over time: u ** 0.7 puts more of them in recent days.
            registered_day=int(self.calendar.today * random() ** 0.7),
            preferred_channel=preferred_channel,
            online_channel=online_channel,
            home_store=city.stores[int(random() * len(city.stores))] if city else "",
            favourite=self._pick(self.category_table),
            usual_hours=_DAYPART_HOURS[self._pick(self.daypart_table)],
            week_habit=random(),
            coupon_propensity=0.0 if random() < 0.4 else random() * 0.8,
            wholesale=random() < 0.004,
            influencer=random() < 0.01,
            basket_scale=rng.lognormvariate(-0.125, 0.5),  # mean 1: a few big baskets
            order_count=order_count,
            engagement=rng.lognormvariate(-0.32, 0.8),  # mean 1
        )

    def _order_times(self, shopper: _Shopper) -> list[datetime]:
        """When the customer ordered: between their first and last active day, busier on
        festival days, on their weekend or weekday habit, mostly in their usual daypart."""
        if not shopper.order_count:
            return []
        random, calendar = self.random, self.calendar
        today, weekdays = calendar.today, calendar.weekdays
        first_day = min(today, shopper.registered_day + int(random() * 30))
        if shopper.order_count == 1:
            last_day = first_day
        elif random() < 0.55:  # still buying
            last_day = today
        else:  # stopped at some point
            last_day = first_day + int(random() * (today - first_day + 1))
        days = [first_day, last_day][: shopper.order_count] + [
            calendar.sample_day(random, first_day, last_day) for _ in range(shopper.order_count - 2)
        ]
        habit = shopper.week_habit
        times = []
        for day in days:
            weekday = weekdays[day]
            if habit < 0.3 and weekday < 5 and random() < 0.8:  # to the coming weekend
                moved = day + 5 - weekday + (random() < 0.5)
                day = moved if moved <= last_day else max(first_day, day - weekday - 1)
            elif habit > 0.75 and weekday >= 5 and random() < 0.85:  # to a weekday
                moved = day - (weekday - 4)
                day = moved if moved >= first_day else min(last_day, day + 7 - weekday)
            if random() < 0.75:
                hours = shopper.usual_hours
            else:
                hours = _DAYPART_HOURS[self._pick(self.daypart_table)]
            times.append(self._time_of_day(day, hours))
        times.sort()
        return times

    def _order(
        self,
        batch: ShopperBatch,
        shopper: _Shopper,
        history: _History,
        *,
        order_pk: int,
        placed_at: datetime,
        first: bool,
    ) -> None:
        random = self.random
        channel = (
            shopper.preferred_channel if random() < 0.7 else self._pick(self.sales_channel_table)
        )
        city = shopper.city
        if channel == "store" and city is None:
            channel = shopper.online_channel
        if channel != "store":
            store, order_city = "", city.name if city else ""
        elif random() < 0.9:
            store, order_city = shopper.home_store, city.name
        else:  # shopping while travelling
            other = self.cities[self._pick(self.city_table)]
            store, order_city = other.stores[int(random() * len(other.stores))], other.name

        # The basket: distinct SKUs; picking a SKU again adds to its quantity.
        day = (placed_at - self.calendar.starts[0]).days
        gift_season = self.calendar.gift_season[min(day, self.calendar.today)]
        lines: dict[str, list] = {}
        item_count = 1 + int(-math.log(1.0 - random()) * 1.6 * shopper.basket_scale)
        for _ in range(min(item_count, 8)):
            if gift_season and random() < 0.3:
                category = "gift_box"
            elif random() < 0.55:
                category = shopper.favourite
            else:
                category = self._pick(self.category_table)
            product = self._product(category)
            draw = random()
            if shopper.wholesale:
                quantity = 10 + int(random() * 31)
            elif draw < 0.72:
                quantity = 1
            elif draw < 0.92:
                quantity = 2
            else:
                quantity = 3 + int(random() * 4)
            line = lines.get(product.sku)
            if line is None:
                lines[product.sku] = [product, quantity]
            else:
                line[1] += quantity
        items_total = _ZERO
        for product, quantity in lines.values():
            items_total += product.price * quantity
            batch.order_items.append(
                (
                    placed_at,
                    placed_at,
                    order_pk,
                    product.sku,
                    product.category,
                    quantity,
                    product.price,
                )
            )
            if product.category == "gift_box":
                history.gift_boxes += quantity

        coupon_code = ""
        if shopper.coupon_propensity and random() < shopper.coupon_propensity:
            coupon_code = _best_coupon(
                items_total, seasonal=self.calendar.coupon_of_day[day], first=first
            )
        amount = items_total - DEMO_COUPONS[coupon_code].discount if coupon_code else items_total
        draw = random()
        status = "paid" if draw < 0.92 else "refunded" if draw < 0.97 else "cancelled"
        order_id = f"O{order_pk:08d}"
        batch.orders.append(
            (
                order_pk,
                placed_at,
                placed_at,
                order_id,
                shopper.pk,
                placed_at,
                amount,
                channel,
                store,
                order_city,
                status,
                coupon_code,
            )
        )
        if status == "paid":
            history.paid_total += amount
        if history.first_order_at is None:
            history.first_order_at = placed_at
        self._order_events(
            shopper,
            history,
            placed_at=placed_at,
            order_id=order_id,
            channel=channel,
            store=store,
            status=status,
            product=next(iter(lines.values()))[0],
        )

    def _order_events(
        self,
        shopper: _Shopper,
        history: _History,
        *,
        placed_at: datetime,
        order_id: str,
        channel: str,
        store: str,
        status: str,
        product: Product,
    ) -> None:
        """Behaviour around an order: the cart add or store visit before it, and a review,
        or a return request and maybe a complaint, after it."""
        random, seconds, events = self.random, self.seconds, history.events
        if channel == "store":
            if random() < 0.4:
                visited = placed_at - seconds[60 + int(random() * 1800)]
                events.append(("store_visit", visited, "store", "", "", self.store_payloads[store]))
        elif random() < 0.5:
            added = placed_at - seconds[120 + int(random() * 5400)]
            events.append(
                ("add_to_cart", added, channel, product.sku, product.category, _EMPTY_JSON)
            )
        online = shopper.online_channel
        later = placed_at + timedelta(days=1 + int(random() * 9), seconds=int(random() * 36000))
        if later > self.as_of:
            return
        if status == "refunded" and random() < 0.8:
            payload = json.dumps({"order_id": order_id})
            events.append(("return_request", later, online, product.sku, product.category, payload))
            if random() < 0.3:
                payload = _COMPLAINT_PAYLOADS[int(random() * len(_COMPLAINT_PAYLOADS))]
                events.append(("complaint", later + seconds[600], online, "", "", payload))
        elif status == "paid" and random() < 0.08:
            payload = _REVIEW_PAYLOADS[int(random() * len(_REVIEW_PAYLOADS))]
            events.append(("review", later, online, product.sku, product.category, payload))

    def _free_events(self, shopper: _Shopper, history: _History) -> None:
        """Browsing, logins, favourites, shares and cart adds that never became orders,
        up to the customer's share of events_per_customer."""
        random, events = self.random, history.events
        budget = int(self.events_per_customer * shopper.engagement + random()) - len(events)
        for _ in range(budget):
            kind = self._pick(self.event_table)
            if kind == "store_visit" and shopper.preferred_channel != "store":
                kind = "visit"
            if shopper.influencer and random() < 0.3:
                kind = "share"
            day = self.calendar.sample_day(random, shopper.registered_day, self.calendar.today)
            if random() < 0.6:
                hours = shopper.usual_hours
            else:
                hours = _DAYPART_HOURS[self._pick(self.daypart_table)]
            occurred_at = self._time_of_day(day, hours)
            channel, sku, category, payload = shopper.online_channel, "", "", _EMPTY_JSON
            if kind == "visit":
                payload = _VISIT_PAYLOADS[int(random() * len(_VISIT_PAYLOADS))]
            elif kind in ("favorite", "add_to_cart", "share"):
                favourite = random() < 0.6
                category = shopper.favourite if favourite else self._pick(self.category_table)
                sku = self._product(category).sku
                if kind == "share":
                    payload = _SHARE_PAYLOADS[int(random() * len(_SHARE_PAYLOADS))]
            elif kind == "store_visit":
                channel, payload = "store", self.store_payloads[shopper.home_store]
            elif kind == "complaint":
                payload = _COMPLAINT_PAYLOADS[int(random() * len(_COMPLAINT_PAYLOADS))]
            events.append((kind, occurred_at, channel, sku, category, payload))

    def _event_rows(self, batch: ShopperBatch, shopper: _Shopper, history: _History) -> None:
        # Events have a natural key (customer, kind, time, channel, sku): a clash moves the
        # later event one second earlier, which keeps it at or before as_of.
        seen = set()
        one_second = self.seconds[1]
        append = batch.events.append
        pk = shopper.pk
        for kind, occurred_at, channel, sku, category, payload in history.events:
            while (kind, occurred_at, channel, sku) in seen:
                occurred_at -= one_second
            seen.add((kind, occurred_at, channel, sku))
            append(
                (occurred_at, occurred_at, pk, kind, occurred_at, channel, sku, category, payload)
            )

    def _profile_rows(self, batch: ShopperBatch, shopper: _Shopper, history: _History) -> None:
        """The customer row (membership and points follow what they bought), their tags
        and their identities in other systems."""
        random, seconds, pk = self.random, self.seconds, shopper.pk
        is_member = random() < 0.25 + 0.05 * min(shopper.order_count, 10)
        if is_member:
            if history.paid_total >= _PLATINUM_SPEND:
                tier = "platinum"
            elif history.paid_total >= _GOLD_SPEND:
                tier = "gold"
            else:
                tier = "silver"
            points = int(history.paid_total * Decimal(random() * 0.6 + 0.4))
        else:
            tier, points = "", 0
        tags = [
            name
            for name, applies in (
                ("vip", history.paid_total >= _VIP_SPEND),
                ("wholesale", shopper.wholesale),
                ("staff", random() < 0.003),
                ("influencer", shopper.influencer),
                ("gift_buyer", history.gift_boxes >= 3),
                ("student", shopper.occupation == "student"),
            )
            if applies
        ]
        batch.customer_tags.extend((pk, self.tag_ids[name]) for name in tags)

        uses_app = "app" in (shopper.preferred_channel, shopper.online_channel)
        consent_bits = (
            (uses_app and random() < 0.55)
            | (bool(shopper.phone) and random() < 0.45) << 1
            | (random() < 0.5) << 2
            | (bool(shopper.email) and random() < 0.35) << 3
        )
        registered_at = self._time_of_day(shopper.registered_day, tuple(range(24)))
        if history.first_order_at is not None and registered_at > history.first_order_at:
            registered_at = history.first_order_at - seconds[60 + int(random() * 3600)]
        acquisition = self._pick(self.acquisition_table)
        if acquisition == "store" and shopper.city is None:
            acquisition = "app"
        city = shopper.city
        batch.customers.append(
            (
                pk,
                registered_at,
                registered_at,
                f"C{pk:07d}",
                f"{shopper.surname} {shopper.given}",
                shopper.phone,
                shopper.email,
                shopper.gender,
                shopper.birth_date,
                city.name if city else "",
                city.region if city else "",
                shopper.occupation,
                is_member,
                tier,
                points,
                registered_at,
                acquisition,
                self.consent_payloads[consent_bits],
                _ATTRIBUTE_PAYLOADS[int(random() * len(_ATTRIBUTE_PAYLOADS))],
                False,
            )
        )

        # Each external id embeds the customer's id, so no two customers share one.
        identities = batch.identities
        if uses_app or random() < 0.3:
            identities.append((registered_at, registered_at, "app", f"U{pk:08d}", pk))
        if shopper.preferred_channel == "mini_program" or random() < 0.35:
            openid = f"o{self.rng.getrandbits(40):010x}{pk:x}"
            identities.append((registered_at, registered_at, "mini_program", openid, pk))
        if shopper.home_store and (shopper.preferred_channel == "store" or random() < 0.1):
            identities.append((registered_at, registered_at, "store_card", f"SC{pk:010d}", pk))
        if acquisition == "partner_bbq" or random() < 0.03:
            identities.append((registered_at, registered_at, "partner", f"BBQ-{pk}", pk))


def _best_coupon(items_total: Decimal, *, seasonal: str, first: bool) -> str:
    """The coupon a coupon-minded customer uses: the festival's, the welcome coupon on a
    first order, else the biggest store-wide one the basket reaches ('' when none)."""
    candidates = ([seasonal] if seasonal else []) + (["WELCOME10"] if first else [])
    for code in (*candidates, "SNACK50", "SNACK20", "SAVE8"):
        if items_total >= DEMO_COUPONS[code].threshold:
            return code
    return ""
