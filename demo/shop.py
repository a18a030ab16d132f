"""The demo shop: a snack retailer selling online and in stores.

What it sells (products by category), where (cities with their stores), through which
sales and marketing channels, with which coupons, on which calendar (the Spring Festival,
Mid-Autumn, 618 and Double 11 peaks), and the people who shop there. Everything the
shoppers generator draws from is here; nothing here touches the database.
"""

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings

from crm.enums import ChannelKind


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
    ("share_page", "Share page of a red envelope", ChannelKind.ON_SITE),
    ("partner_bbq", "BBQ restaurant partner", ChannelKind.PARTNER),
)
CONSENT_CHANNELS = ("app_push", "sms", "wechat_oa", "email")
# Sending rules of the off-site channels (SPEC §4): no SMS between 22:00 and 08:00 local
# (deferred to the morning), at most 2 SMS and 3 app pushes per customer a day.
CHANNEL_SENDING_RULES = {
    "sms": {"quiet_hours_start": time(22), "quiet_hours_end": time(8), "daily_message_cap": 2},
    "app_push": {"daily_message_cap": 3},
}

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


SURNAMES = (
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
GIVEN_NAMES = (
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
OCCUPATIONS = (
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


class Calendar:
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
            weight, gift, coupon = season(day)
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


def season(day: date) -> tuple[float, bool, str]:
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
