"""Demo data: a snack retailer selling online and in stores, reproducible from a seed.

One generator of realism and two sinks. `_DemoGenerator` makes the rows of one customer at
a time (profile, identities, tags, orders with items, behaviour events) as plain Python
values from a single `random.Random(seed)`, so the same seed gives the same rows whatever
the database or batch size. The sinks only move rows:

- PostgreSQL: binary `COPY ... FROM STDIN` through psycopg 3, one COPY per table per batch
  (measured on 500,000 order rows: 0.95 µs a row in binary, 3.3 µs in text format).
  When the tables are empty, secondary indexes and foreign keys are dropped before the
  load and rebuilt after it, as PostgreSQL's "Populating a Database" (docs §14.4)
  recommends: on 1M orders the load plus rebuild took 5.6 s against 17.8 s with the
  indexes in place.
- SQLite (the demo): `executemany` INSERTs.

Rows with a database id that other rows point to (customers, orders) get explicit ids
after the current maximum, and their sequences are moved past them at the end; every
other table lets the database number its rows.

Money is Decimal. Times are aware datetimes: the local calendar of `TIME_ZONE` decides the
day, weekday and hour; a run never creates anything after `as_of`.
"""

import json
import math
import random
from bisect import bisect_right
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.db.models import Max
from psycopg.types.json import set_json_dumps

from crm.enums import ChannelKind, EventKind
from crm.models import BehaviourEvent, Channel, Customer, Identity, Order, OrderItem, Tag
from crm.services import metrics
from crm.services.metrics import RecomputeResult

# -- The shop ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    category: str
    price: Decimal


@dataclass(frozen=True)
class City:
    name: str
    region: str
    # Relative share of customers living there.
    weight: int
    stores: tuple[str, ...]


@dataclass(frozen=True)
class DemoCoupon:
    """A money-off coupon: `discount` off an order whose items total at least `threshold`."""

    code: str
    discount: Decimal
    threshold: Decimal


def _product(sku: str, name: str, category: str, price: str) -> Product:
    return Product(sku=sku, name=name, category=category, price=Decimal(price))


# Within a category the first products sell best (popularity falls with the position).
PRODUCTS = (
    _product("NUT-CASHEW-500", "Roasted cashews 500 g", "nuts", "69.90"),
    _product("NUT-MIXED-DAILY-30", "Daily mixed nuts, 30 packs", "nuts", "129.00"),
    _product("NUT-ALMOND-400", "Baked almonds 400 g", "nuts", "49.90"),
    _product("NUT-PISTACHIO-300", "Salted pistachios 300 g", "nuts", "45.90"),
    _product("NUT-WALNUT-500", "Thin-shell walnuts 500 g", "nuts", "35.90"),
    _product("NUT-PECAN-250", "Butter pecans 250 g", "nuts", "39.90"),
    _product("NUT-MACADAMIA-500", "Macadamia with opener 500 g", "nuts", "89.00"),
    _product("DF-MANGO-200", "Dried mango 200 g", "dried_fruit", "25.90"),
    _product("DF-JUJUBE-500", "Xinjiang red jujube 500 g", "dried_fruit", "39.90"),
    _product("DF-CRANBERRY-300", "Dried cranberries 300 g", "dried_fruit", "22.90"),
    _product("DF-RAISIN-500", "Turpan green raisins 500 g", "dried_fruit", "19.90"),
    _product("DF-FIG-250", "Dried figs 250 g", "dried_fruit", "29.90"),
    _product("DF-LONGAN-250", "Dried longan 250 g", "dried_fruit", "32.00"),
    _product("JK-BEEF-SPICY-200", "Spicy beef jerky 200 g", "jerky", "59.90"),
    _product("JK-DUCK-NECK-300", "Braised duck neck 300 g", "jerky", "36.90"),
    _product("JK-BEEF-FIVESPICE-200", "Five-spice beef jerky 200 g", "jerky", "59.90"),
    _product("JK-PORK-250", "Pork jerky 250 g", "jerky", "39.90"),
    _product("JK-CHICKEN-200", "Chicken breast jerky 200 g", "jerky", "28.90"),
    _product("JK-YAK-150", "Yak jerky 150 g", "jerky", "79.00"),
    _product("CD-MILK-250", "Milk candy 250 g", "candy", "15.90"),
    _product("CD-NOUGAT-400", "Peanut nougat 400 g", "candy", "32.90"),
    _product("CD-HAWTHORN-300", "Hawthorn rolls 300 g", "candy", "12.90"),
    _product("CD-SESAME-BRITTLE-300", "Sesame brittle 300 g", "candy", "18.90"),
    _product("CD-CHOCOLATE-200", "Dark chocolate 200 g", "candy", "42.00"),
    _product("CD-GUMMY-150", "Fruit gummies 150 g", "candy", "9.90"),
    _product("TEA-JASMINE-200", "Jasmine tea 200 g", "tea", "48.00"),
    _product("TEA-OOLONG-250", "Tieguanyin oolong 250 g", "tea", "88.00"),
    _product("TEA-LONGJING-100", "West Lake Longjing 100 g", "tea", "168.00"),
    _product("TEA-DIANHONG-150", "Dianhong black tea 150 g", "tea", "76.00"),
    _product("TEA-ROSE-BUD-50", "Rose bud tea 50 g", "tea", "26.00"),
    _product("TEA-PUER-357", "Pu'er tea cake 357 g", "tea", "198.00"),
    _product("GB-FAMILY-SNACK", "Family snack box", "gift_box", "158.00"),
    _product("GB-OFFICE-SNACK", "Office snack box", "gift_box", "128.00"),
    _product("GB-CNY-CLASSIC", "Spring Festival classic box", "gift_box", "238.00"),
    _product("GB-MOONCAKE-NUT", "Mid-Autumn mooncake and nut box", "gift_box", "268.00"),
    _product("GB-TEA-GIFT", "Tea gift box", "gift_box", "328.00"),
    _product("GB-CNY-DELUXE", "Spring Festival deluxe box", "gift_box", "398.00"),
)

# Share of customers whose favourite category it is (and of impulse items in any basket).
CATEGORY_WEIGHTS = {
    "nuts": 28,
    "dried_fruit": 18,
    "jerky": 18,
    "candy": 14,
    "tea": 12,
    "gift_box": 10,
}

CITIES = (
    City(
        "Shanghai", "East China", 14, ("Shanghai Jing'an", "Shanghai Xujiahui", "Shanghai Lujiazui")
    ),
    City(
        "Beijing",
        "North China",
        13,
        ("Beijing Sanlitun", "Beijing Zhongguancun", "Beijing Wangfujing"),
    ),
    City("Guangzhou", "South China", 9, ("Guangzhou Tianhe", "Guangzhou Beijing Road")),
    City("Shenzhen", "South China", 9, ("Shenzhen Futian", "Shenzhen Nanshan")),
    City("Hangzhou", "East China", 8, ("Hangzhou West Lake", "Hangzhou Binjiang")),
    City("Chengdu", "Southwest China", 8, ("Chengdu Chunxi Road", "Chengdu Taikoo Li")),
    City("Wuhan", "Central China", 7, ("Wuhan Jianghan Road", "Wuhan Optics Valley")),
    City("Chongqing", "Southwest China", 7, ("Chongqing Jiefangbei",)),
    City("Nanjing", "East China", 6, ("Nanjing Xinjiekou",)),
    City("Xi'an", "Northwest China", 6, ("Xi'an Bell Tower", "Xi'an Qujiang")),
    City("Suzhou", "East China", 6, ("Suzhou Guanqian Street",)),
    City("Tianjin", "North China", 5, ("Tianjin Binjiang Road",)),
)
# Customers who never told us where they live.
UNKNOWN_CITY_SHARE = 0.04

# Where orders are placed (Order.channel), with each channel's share of customers who
# prefer it.
SALES_CHANNEL_WEIGHTS = {"app": 35, "mini_program": 30, "web": 10, "store": 25}

# Marketing touchpoints (SPEC §1 Channel); consent is asked for the off-site ones.
MARKETING_CHANNELS = (
    ("app_push", "App push", ChannelKind.OFF_SITE),
    ("sms", "SMS", ChannelKind.OFF_SITE),
    ("wechat_oa", "WeChat official account", ChannelKind.OFF_SITE),
    ("email", "E-mail", ChannelKind.OFF_SITE),
    ("homepage", "Home page banner", ChannelKind.ON_SITE),
    ("checkout", "Checkout page", ChannelKind.ON_SITE),
    ("partner_bbq", "BBQ restaurant partner", ChannelKind.PARTNER),
)
CONSENT_CHANNELS = ("app_push", "sms", "wechat_oa", "email")

ACQUISITION_CHANNEL_WEIGHTS = {
    "app": 25,
    "mini_program": 25,
    "store": 20,
    "web": 8,
    "wechat_oa": 10,
    "partner_bbq": 5,
    "sms": 2,
    "homepage": 5,
}

DEMO_TAGS = ("vip", "wholesale", "staff", "influencer", "gift_buyer", "student")

IDENTITY_SOURCES = ("app", "mini_program", "store_card", "partner")

DEMO_COUPONS = {
    coupon.code: coupon
    for coupon in (
        DemoCoupon("WELCOME10", Decimal("10.00"), Decimal("59.00")),
        DemoCoupon("SAVE8", Decimal("8.00"), Decimal("69.00")),
        DemoCoupon("SNACK20", Decimal("20.00"), Decimal("199.00")),
        DemoCoupon("SNACK50", Decimal("50.00"), Decimal("399.00")),
        DemoCoupon("CNY-40", Decimal("40.00"), Decimal("358.00")),
        DemoCoupon("618-25", Decimal("25.00"), Decimal("199.00")),
        DemoCoupon("D11-30", Decimal("30.00"), Decimal("299.00")),
    )
}

# Spring Festival (Chinese New Year) and Mid-Autumn dates; they follow the lunar calendar.
# Outside these years the two peaks are simply absent.
CHINESE_NEW_YEAR = (
    date(2021, 2, 12),
    date(2022, 2, 1),
    date(2023, 1, 22),
    date(2024, 2, 10),
    date(2025, 1, 29),
    date(2026, 2, 17),
    date(2027, 2, 6),
    date(2028, 1, 26),
    date(2029, 2, 13),
    date(2030, 2, 3),
)
MID_AUTUMN = (
    date(2021, 9, 21),
    date(2022, 9, 10),
    date(2023, 9, 29),
    date(2024, 9, 17),
    date(2025, 10, 6),
    date(2026, 9, 25),
    date(2027, 9, 15),
    date(2028, 10, 3),
    date(2029, 9, 22),
    date(2030, 9, 12),
)

# About three years of history before as_of.
HISTORY_DAYS = 3 * 365
DEFAULT_EVENTS_PER_CUSTOMER = 20

# Orders per customer: 12% never buy, 22% buy once, the rest 2 + a lognormal count
# (sigma 1, capped at 500). The median mu below makes the mean about 10 orders per
# customer; measured: 10.0 over 200,000 customers.
NEVER_BUY_SHARE = 0.12
ONE_TIME_SHARE = 0.22
REPEAT_ORDERS_MU = 2.09
REPEAT_ORDERS_SIGMA = 1.0
MAX_ORDERS_PER_CUSTOMER = 500

# Customers per batch: each batch is one COPY per table. 2,000 customers are ~20,000
# orders, ~38,000 items and ~43,000 events; generating 100,000 customers peaked at 131 MB
# resident.
BATCH_CUSTOMERS = 2000

# -- Generator ----------------------------------------------------------------------------

_SURNAMES = (
    "Wang",
    "Li",
    "Zhang",
    "Liu",
    "Chen",
    "Yang",
    "Huang",
    "Zhao",
    "Wu",
    "Zhou",
    "Xu",
    "Sun",
    "Ma",
    "Zhu",
    "Hu",
    "Guo",
    "He",
    "Lin",
    "Gao",
    "Luo",
    "Zheng",
    "Liang",
    "Xie",
    "Song",
    "Tang",
    "Han",
    "Feng",
    "Deng",
    "Cao",
    "Peng",
)
_GIVEN_NAMES = (
    "Fang",
    "Wei",
    "Min",
    "Jing",
    "Li",
    "Qiang",
    "Lei",
    "Jun",
    "Yang",
    "Yan",
    "Jie",
    "Tao",
    "Ming",
    "Chao",
    "Hui",
    "Xin",
    "Yu",
    "Hao",
    "Ting",
    "Yi",
    "Lin",
    "Na",
    "Juan",
    "Xiaoming",
    "Xiaohong",
    "Jiahao",
    "Zihan",
    "Yuxuan",
    "Haoran",
    "Shuang",
    "Mei",
    "Lan",
    "Bo",
    "Peng",
    "Kai",
)
_OCCUPATIONS = (
    "office worker",
    "engineer",
    "teacher",
    "student",
    "freelancer",
    "retail staff",
    "civil servant",
    "healthcare worker",
    "self-employed",
    "retired",
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


class _Calendar:
    """The local days of the history window with their seasonal weight for shopping."""

    def __init__(self, *, as_of: datetime):
        zone = ZoneInfo(settings.TIME_ZONE)
        today = as_of.astimezone(zone).date()
        first = today - timedelta(days=HISTORY_DAYS)
        self.as_of = as_of
        self.today = HISTORY_DAYS
        self.starts: list[datetime] = []
        self.weekdays: list[int] = []
        self.gift_season: list[bool] = []
        self.coupon_of_day: list[str] = []
        weights = []
        for index in range(HISTORY_DAYS + 1):
            day = first + timedelta(days=index)
            self.starts.append(datetime.combine(day, time(), tzinfo=zone).astimezone(UTC))
            self.weekdays.append(day.weekday())
            weight, gift, coupon = _season(day)
            self.gift_season.append(gift)
            self.coupon_of_day.append(coupon)
            weights.append(weight * (1.25 if day.weekday() >= 5 else 1.0))
        self.cumulative: list[float] = []
        running = 0.0
        for weight in weights:
            running += weight
            self.cumulative.append(running)

    def sample_day(self, random: Callable[[], float], low: int, high: int) -> int:
        """A day in [low, high], busier days more likely."""
        cumulative = self.cumulative
        start = cumulative[low - 1] if low else 0.0
        return bisect_right(cumulative, start + random() * (cumulative[high] - start), low, high)


def _season(day: date) -> tuple[float, bool, str]:
    """(shopping weight, gift-box season, campaign coupon code) of one local day."""
    weight, gift, coupon = 1.0, False, ""
    for festival in CHINESE_NEW_YEAR:
        before = (festival - day).days
        if 0 < before <= 21:  # stocking up for the Spring Festival
            weight, gift, coupon = 1.5 + (21 - before) / 14, True, "CNY-40"
        elif -7 < before <= 0:  # the holiday week: shops and couriers rest
            weight = 0.6
    for festival in MID_AUTUMN:
        before = (festival - day).days
        if 0 <= before <= 14:
            weight, gift = max(weight, 1.8), True
    if day.month == 6 and day.day <= 18:  # the 618 shopping festival
        weight, coupon = 1.5 + (3.0 if day.day == 18 else day.day / 18), "618-25"
    if (day.month == 10 and day.day == 31) or (day.month == 11 and day.day <= 11):  # Double 11
        weight, coupon = (6.0 if day.day == 11 else 2.0), "D11-30"
    if day.month == 12 and day.day == 12:
        weight = 2.0
    return weight, gift, coupon


@dataclass
class _Batch:
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


class _DemoGenerator:
    """Makes one customer's rows after another from one seeded random stream."""

    def __init__(self, *, seed: int, as_of: datetime, events_per_customer: int, tag_ids: dict):
        # Demo data, not secrets: a reproducible stream is the point.
        self.rng = random.Random(seed)  # noqa: S311
        self.random = self.rng.random
        self.as_of = as_of
        self.events_per_customer = events_per_customer
        self.tag_ids = tag_ids
        self.calendar = _Calendar(as_of=as_of)
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
    ) -> Iterator[_Batch]:
        """Batches of at most BATCH_CUSTOMERS customers, numbered from the given ids."""
        order_pk = first_order_pk
        for start in range(0, customers, BATCH_CUSTOMERS):
            batch = _Batch()
            end = min(customers, start + BATCH_CUSTOMERS)
            for pk in range(first_customer_pk + start, first_customer_pk + end):
                order_pk = self._customer(batch, pk=pk, first_order_pk=order_pk)
            yield batch

    def _customer(self, batch: _Batch, *, pk: int, first_order_pk: int) -> int:
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
            occupation = _OCCUPATIONS[int(random() * len(_OCCUPATIONS))]
            if occupation == "retired" and age < 50:
                occupation = "office worker"
        else:
            occupation = ""
        surname = _SURNAMES[int(random() * len(_SURNAMES))]
        given = _GIVEN_NAMES[int(random() * len(_GIVEN_NAMES))]
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
        batch: _Batch,
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

    def _event_rows(self, batch: _Batch, shopper: _Shopper, history: _History) -> None:
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

    def _profile_rows(self, batch: _Batch, shopper: _Shopper, history: _History) -> None:
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


# -- Sinks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    """A target table: the columns the generator fills, then every other column's default."""

    model: type[models.Model]
    generated: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.model._meta.db_table

    def filled_columns(self) -> tuple[tuple[str, ...], tuple]:
        """Columns and constant values of the fields the generator leaves to their default.

        A new non-null field without a default would make the load fail at the database;
        this fails first and names it.
        """
        columns, values = [], []
        for model_field in self.model._meta.concrete_fields:
            if model_field.column in self.generated or model_field.primary_key:
                continue
            # Django's own default: the declared one, else '' for a non-null text field.
            if model_field.has_default() or (
                model_field.empty_strings_allowed and not model_field.null
            ):
                value = model_field.get_default()
                if isinstance(model_field, models.JSONField):
                    value = json.dumps(value)
                columns.append(model_field.column)
                values.append(value)
            elif not model_field.null:
                raise ImproperlyConfigured(
                    f"Demo data does not fill {self.name}.{model_field.column}; "
                    "teach crm.services.demo_data about it."
                )
        return tuple(columns), tuple(values)


_CUSTOMER_TAGS = Customer.tags.through
_TABLES = {
    "customers": _Table(
        Customer,
        (
            "id",
            "created_at",
            "updated_at",
            "customer_id",
            "name",
            "phone",
            "email",
            "gender",
            "birth_date",
            "city",
            "region",
            "occupation",
            "is_member",
            "member_tier",
            "points",
            "registered_at",
            "acquisition_channel",
            "consent",
            "attributes",
            "is_placeholder",
        ),
    ),
    "identities": _Table(
        Identity, ("created_at", "updated_at", "source", "external_id", "customer_id")
    ),
    "customer_tags": _Table(_CUSTOMER_TAGS, ("customer_id", "tag_id")),
    "orders": _Table(
        Order,
        (
            "id",
            "created_at",
            "updated_at",
            "order_id",
            "customer_id",
            "placed_at",
            "amount",
            "channel",
            "store",
            "city",
            "status",
            "coupon_code",
        ),
    ),
    "order_items": _Table(
        OrderItem,
        ("created_at", "updated_at", "order_id", "sku", "category", "quantity", "unit_price"),
    ),
    "events": _Table(
        BehaviourEvent,
        (
            "created_at",
            "updated_at",
            "customer_id",
            "kind",
            "occurred_at",
            "channel",
            "sku",
            "category",
            "payload",
        ),
    ),
}


class _CopySink:
    """PostgreSQL: binary COPY of each table's rows, types taken from the catalogue."""

    def __init__(self, cursor):
        self.cursor = cursor.cursor  # the psycopg cursor under Django's wrapper
        # JSON values arrive already serialised.
        set_json_dumps(_already_json, context=self.cursor)
        self.statements = {}
        for key, table in _TABLES.items():
            extra_columns, extra_values = table.filled_columns()
            columns = table.generated + extra_columns
            self.cursor.execute(
                "SELECT a.atttypid FROM unnest(%s::text[]) WITH ORDINALITY AS c(name, position)"
                " JOIN pg_attribute a ON a.attrelid = %s::regclass AND a.attname = c.name"
                " ORDER BY c.position",
                [list(columns), table.name],
            )
            types = [row[0] for row in self.cursor.fetchall()]
            quote = connection.ops.quote_name
            statement = (
                f"COPY {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
                "FROM STDIN (FORMAT BINARY)"
            )
            self.statements[key] = (statement, types, extra_values)

    def write(self, key: str, rows: list[tuple]) -> None:
        if not rows:
            return
        statement, types, extra_values = self.statements[key]
        with self.cursor.copy(statement) as copy:
            copy.set_types(types)
            write_row = copy.write_row
            if extra_values:
                for row in rows:
                    write_row(row + extra_values)
            else:
                for row in rows:
                    write_row(row)


def _already_json(value: str) -> str:
    return value


class _InsertSink:
    """Any other database (the SQLite demo): executemany INSERTs, times adapted by Django."""

    def __init__(self, cursor):
        self.cursor = cursor
        self.statements = {}
        ops = connection.ops
        for key, table in _TABLES.items():
            extra_columns, extra_values = table.filled_columns()
            columns = table.generated + extra_columns
            fields = {f.column: f for f in table.model._meta.concrete_fields}
            adapters = {}
            for position, column in enumerate(columns):
                if isinstance(fields[column], models.DateTimeField):
                    adapters[position] = ops.adapt_datetimefield_value
                elif isinstance(fields[column], models.DateField):
                    adapters[position] = ops.adapt_datefield_value
                elif isinstance(fields[column], models.DecimalField):
                    adapters[position] = str
            statement = (
                f"INSERT INTO {ops.quote_name(table.name)} "
                f"({', '.join(ops.quote_name(c) for c in columns)}) "
                f"VALUES ({', '.join(['%s'] * len(columns))})"
            )
            self.statements[key] = (statement, adapters, extra_values)

    def write(self, key: str, rows: list[tuple]) -> None:
        if not rows:
            return
        statement, adapters, extra_values = self.statements[key]
        prepared = []
        for row in rows:
            values = list(row + extra_values)
            for position, adapt in adapters.items():
                if values[position] is not None:
                    values[position] = adapt(values[position])
            prepared.append(values)
        self.cursor.executemany(statement, prepared)


class _IndexesSetAside:
    """PostgreSQL bulk load: drop the loaded tables' secondary indexes, unique constraints and
    foreign keys, and rebuild them afterwards from their own catalogue definitions.

    Only used when the tables are empty, so a rebuild never re-sorts existing data. Runs in
    the load's transaction: a failure restores everything, and other sessions wait on the
    tables' locks instead of seeing them without indexes. Indexes that a foreign key of
    another table depends on are left alone.
    """

    def __init__(self, cursor, tables: list[str]):
        self.cursor = cursor
        self.tables = tables
        self.restore: list[str] = []

    def __enter__(self):
        cursor, quote = self.cursor, connection.ops.quote_name
        # Rows deleted earlier in this transaction leave deferred foreign-key checks
        # queued, and PostgreSQL refuses ALTER TABLE on a table with pending trigger events;
        # running the checks now empties the queue.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)"
            " FROM pg_constraint c WHERE c.contype = 'f' AND c.conrelid = ANY(%s::regclass[])"
            " ORDER BY c.conrelid, c.conname",
            [self.tables],
        )
        foreign_keys = cursor.fetchall()
        cursor.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid),"
            "       i.indrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)"
            " FROM pg_index i"
            " LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid"
            " WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary"
            "   AND NOT EXISTS (SELECT 1 FROM pg_constraint f"
            "                   WHERE f.contype = 'f' AND f.conindid = i.indexrelid)"
            " ORDER BY i.indrelid, i.indexrelid",
            [self.tables],
        )
        indexes = cursor.fetchall()
        for table, name, _ in foreign_keys:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {quote(name)}")
        for index, index_definition, table, constraint, constraint_definition in indexes:
            if constraint:
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {quote(constraint)}")
                self.restore.append(
                    f"ALTER TABLE {table} ADD CONSTRAINT {quote(constraint)} "
                    f"{constraint_definition}"
                )
            else:
                cursor.execute(f"DROP INDEX {index}")
                self.restore.append(index_definition)
        self.restore += [
            f"ALTER TABLE {table} ADD CONSTRAINT {quote(name)} {definition}"
            for table, name, definition in foreign_keys
        ]
        return self

    def __exit__(self, exc_type, exc, traceback):
        if exc_type is not None:
            return  # the transaction rolls back and the indexes with it
        # Measured on the 2-core machine: index builds sort in memory with 1 GB (the 64 MB
        # default spills 10M-row sorts to disk).
        self.cursor.execute(f"SET LOCAL maintenance_work_mem = '{BULK_MAINTENANCE_WORK_MEM}'")
        for statement in self.restore:
            self.cursor.execute(statement)
        self.cursor.execute("SET CONSTRAINTS ALL DEFERRED")


BULK_MAINTENANCE_WORK_MEM = "1GB"


# -- Service ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoDataSummary:
    skipped: bool
    customers: int = 0
    identities: int = 0
    customer_tags: int = 0
    orders: int = 0
    order_items: int = 0
    events: int = 0
    metrics: RecomputeResult | None = None


@transaction.atomic
def generate_demo_data(
    *,
    customers: int,
    seed: int,
    as_of: datetime,
    events_per_customer: int = DEFAULT_EVENTS_PER_CUSTOMER,
    only_if_empty: bool = False,
    on_progress: Callable[[int], object] | None = None,
) -> DemoDataSummary:
    """Add `customers` demo customers of a snack retailer, with about ten orders each (few
    with many, many with few or none) and about `events_per_customer` behaviour events,
    then recompute every customer's metrics, stage and RFM as of `as_of`.

    Guarantees: the same seed and arguments on an empty database give identical rows;
    nothing is dated after `as_of`; every order's amount is its items' total less the
    discount of its DEMO_COUPONS coupon, if any. Also makes sure the demo's marketing
    channels and tags exist. With `only_if_empty`, does nothing (skipped=True) when any
    customer exists. Atomic: on failure nothing is left behind. `on_progress` is called
    with the number of customers written after every batch.
    """
    if customers < 0 or events_per_customer < 0:
        raise ValueError("customers and events_per_customer must not be negative")
    if only_if_empty and Customer.objects.exists():
        return DemoDataSummary(skipped=True)
    for code, name, kind in MARKETING_CHANNELS:
        Channel.objects.get_or_create(code=code, defaults={"name": name, "kind": kind})
    tag_ids = {name: Tag.objects.get_or_create(name=name)[0].pk for name in DEMO_TAGS}
    counts = dict.fromkeys(_TABLES, 0)
    postgresql = connection.vendor == "postgresql"
    tables = [table.name for table in _TABLES.values()]
    with connection.cursor() as cursor:
        if postgresql:
            # Customers and orders get explicit ids: nobody may add rows meanwhile.
            cursor.execute(f"LOCK TABLE {', '.join(tables)} IN SHARE ROW EXCLUSIVE MODE")
        first_customer_pk = (Customer.objects.aggregate(last=Max("pk"))["last"] or 0) + 1
        first_order_pk = (Order.objects.aggregate(last=Max("pk"))["last"] or 0) + 1
        generator = _DemoGenerator(
            seed=seed, as_of=as_of, events_per_customer=events_per_customer, tag_ids=tag_ids
        )
        bulk = postgresql and not any(
            model.objects.exists()
            for model in (Customer, Identity, Order, OrderItem, BehaviourEvent)
        )
        sink = _CopySink(cursor) if postgresql else _InsertSink(cursor)
        with _IndexesSetAside(cursor, tables) if bulk else nullcontext():
            for batch in generator.batches(
                customers=customers,
                first_customer_pk=first_customer_pk,
                first_order_pk=first_order_pk,
            ):
                for key in _TABLES:
                    rows = getattr(batch, key)
                    sink.write(key, rows)
                    counts[key] += len(rows)
                if on_progress is not None:
                    on_progress(len(batch.customers))
        for statement in connection.ops.sequence_reset_sql(no_style(), [Customer, Order]):
            cursor.execute(statement)
        if postgresql:
            for table in tables:
                cursor.execute(f"ANALYZE {table}")
    result = metrics.recompute_customer_metrics(as_of=as_of)
    return DemoDataSummary(skipped=False, **counts, metrics=result)
