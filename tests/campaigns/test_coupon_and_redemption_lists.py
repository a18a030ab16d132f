"""The marketer's lists of issued coupons and of redemptions: rows and order, filters at
the operator's day boundary, pages, totals, CSV exports, access, and bad filter values.

The shop below is built through the real doors: coupons by the claim engine, redemptions by
the redemption service, the reversal by an order coming back refunded and the reconciler.
Expected rows come from the scenario as written here, never from the code under test.
"""

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.services.claims import claim_coupon
from campaigns.services.redemptions import (
    OrderLine,
    redeem_coupon,
    reverse_redemptions_of_refunded_orders,
)
from crm.models import Channel, Customer
from tests.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")
SHANGHAI = ZoneInfo("Asia/Shanghai")  # TIME_ZONE, the operator's zone
VALID_DAYS = 7
NUTS = OrderLine(sku="N1", category="nuts", quantity=1, unit_price=Decimal("80.00"))


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@dataclass(frozen=True)
class IssuedCoupon:
    """One coupon of the scenario as the marketer should see it."""

    label: str
    customer: str
    campaign: str
    campaign_name: str
    template: str
    template_name: str
    channel: str
    issued_at: datetime
    status: str
    redeemed_at: datetime | None
    code: str = ""


@dataclass(frozen=True)
class Used:
    """One redemption of the scenario."""

    label: str
    coupon: str  # IssuedCoupon label
    order_id: str
    amount: Decimal
    discount: Decimal
    store: str
    city: str
    redeemed_at: datetime
    reversed_at: datetime | None


# The claims, in the order they are made (A oldest). 16:00 UTC is midnight in Shanghai:
# B is the last second of 30 June there, C the first second of 1 July.
CLAIMS = [
    # label, campaign, customer, channel, moment
    ("A", "spring", "SH-1", "app_push", utc(2026, 6, 30, 3, 0)),
    ("B", "spring", "SH-2", "sms", utc(2026, 6, 30, 15, 59, 59)),
    ("C", "summer", "SH-1", "sms", utc(2026, 6, 30, 16, 0, 0)),
    ("D", "summer", "SH-3", "app_push", utc(2026, 7, 1, 2, 0)),
    ("E", "spring", "SH-3", "sms", utc(2026, 7, 1, 3, 0)),
]
CAMPAIGNS = {
    "spring": ("Spring snacks", "ten-off", "10 off 50", Decimal("10.00")),
    "summer": ("Summer tea", "fifteen-off", "15 off 50", Decimal("15.00")),
}
# R1 and R2 use two coupons on one order; R3's order comes back refunded.
REDEMPTIONS = [
    # label, coupon, order, amount, store, city, moment
    ("R1", "A", "O-100", Decimal("80.00"), "S1", "Shanghai", utc(2026, 6, 30, 15, 59, 59)),
    ("R2", "C", "O-100", Decimal("80.00"), "S1", "Shanghai", utc(2026, 6, 30, 16, 0, 0)),
    ("R3", "D", "O-300", Decimal("60.00"), "S2", "Hangzhou", utc(2026, 7, 1, 5, 0)),
    ("R4", "E", "O-400", Decimal("55.50"), "S2", "Shanghai", utc(2026, 7, 1, 6, 0)),
]
REFUNDED_ORDER = "O-300"
RECONCILED_AT = utc(2026, 7, 2, 0, 0)
PERSONAL = {"SH-1": ("13900000001", "sh1@example.com"), "SH-2": ("13900000002", "sh2@example.com")}


@dataclass(frozen=True)
class Shop:
    coupons: dict[str, IssuedCoupon]
    redemptions: dict[str, Used]


@pytest.fixture
def sms(db):
    return Channel.objects.create(code="sms", name="SMS", kind="off_site")


@pytest.fixture
def shop(make_campaign, make_template, shopper, app_push, sms) -> Shop:
    # given three Shanghai customers (shopper is SH-1) and two campaigns on two channels
    Customer.objects.filter(pk=shopper.pk).update(
        phone=PERSONAL["SH-1"][0], email=PERSONAL["SH-1"][1]
    )
    CustomerFactory(customer_id="SH-2", phone=PERSONAL["SH-2"][0], email=PERSONAL["SH-2"][1])
    CustomerFactory(customer_id="SH-3")
    for code, (name, template_code, template_name, face_value) in CAMPAIGNS.items():
        template = make_template(
            code=template_code, name=template_name, face_value=face_value, valid_days=VALID_DAYS
        )
        make_campaign(code=code, name=name, template=template, channels=[app_push, sms])

    # coupons through the claim engine
    codes = {}
    for label, campaign, customer, channel, moment in CLAIMS:
        result = claim_coupon(
            campaign=campaign,
            customer=customer,
            channel=channel,
            trigger="login",
            idempotency_key=f"claim-{label}",
            now=moment,
        )
        codes[label] = result.coupons[0].code

    # redemptions through the redemption service
    for _label, coupon, order_id, amount, store, city, moment in REDEMPTIONS:
        owner = next(claim[2] for claim in CLAIMS if claim[0] == coupon)
        redeem_coupon(
            code=codes[coupon],
            customer=Customer.objects.get(customer_id=owner),
            order_id=order_id,
            amount=amount,
            items=[NUTS],
            store=store,
            city=city,
            now=moment,
        )

    # R3's order comes back refunded and the reconciler reverses its redemption
    OrderFactory(
        order_id=REFUNDED_ORDER,
        customer=Customer.objects.get(customer_id="SH-3"),
        placed_at=utc(2026, 7, 1, 4, 50),
        amount=Decimal("60.00"),
        status="refunded",
    )
    assert reverse_redemptions_of_refunded_orders(now=RECONCILED_AT) == 1

    redeemed = {
        coupon: moment
        for label, coupon, *_rest, moment in REDEMPTIONS
        if label != "R3"  # reversed: its coupon is unused again
    }
    coupons = {}
    for label, campaign, customer, channel, moment in CLAIMS:
        name, template_code, template_name, _ = CAMPAIGNS[campaign]
        coupons[label] = IssuedCoupon(
            label=label,
            customer=customer,
            campaign=campaign,
            campaign_name=name,
            template=template_code,
            template_name=template_name,
            channel=channel,
            issued_at=moment,
            status="redeemed" if label in redeemed else "unused",
            redeemed_at=redeemed.get(label),
            code=codes[label],
        )
    redemptions = {}
    for label, coupon, order_id, amount, store, city, moment in REDEMPTIONS:
        # cash coupons under their order amount: the discount is the face value
        discount = CAMPAIGNS[coupons[coupon].campaign][3]
        redemptions[label] = Used(
            label=label,
            coupon=coupon,
            order_id=order_id,
            amount=amount,
            discount=discount,
            store=store,
            city=city,
            redeemed_at=moment,
            reversed_at=RECONCILED_AT if order_id == REFUNDED_ORDER else None,
        )
    return Shop(coupons=coupons, redemptions=redemptions)


@pytest.fixture
def analyst_client(client, analyst):
    client.force_login(analyst)
    return client


# Reading the pages and the files ---------------------------------------------------------


class TableReader(HTMLParser):
    """The text of each body cell of the page's data table, pieces joined by one space."""

    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_body = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tbody":
            self._in_body = True
        elif self._in_body and tag == "tr":
            self.rows.append([])
        elif self._in_body and tag == "td":
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_body = False
        elif tag == "td" and self._cell is not None:
            self.rows[-1].append(" ".join(piece for piece in self._cell if piece))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data.strip())


def table_rows(response) -> list[list[str]]:
    reader = TableReader()
    reader.feed(response.content.decode())
    return reader.rows


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def local_minutes(moment: datetime | None) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if moment else "—"


def local_iso(moment: datetime | None) -> str:
    return moment.astimezone(SHANGHAI).isoformat(timespec="seconds") if moment else ""


def listed_coupons(response) -> list[str]:
    return [coupon.code for coupon in response.context["coupons"]]


def listed_redemptions(response) -> list[tuple[str, str]]:
    return [(row.coupon.code, row.order_id) for row in response.context["redemptions"]]


def coupon_codes(shop: Shop, labels: str) -> list[str]:
    return [shop.coupons[label].code for label in labels]


def redemption_keys(shop: Shop, labels: list[str]) -> list[tuple[str, str]]:
    return [
        (shop.coupons[shop.redemptions[label].coupon].code, shop.redemptions[label].order_id)
        for label in labels
    ]


def expected_totals(shop: Shop, labels: list[str]) -> dict:
    used = [shop.redemptions[label] for label in labels]
    orders = {row.order_id: row.amount for row in used}
    return {
        "redemptions": len(used),
        "reversed": sum(1 for row in used if row.reversed_at),
        "orders": len(orders),
        "order_amount": sum(orders.values(), Decimal("0.00")),
        "discount": sum((row.discount for row in used), Decimal("0.00")),
    }


# Coupons ---------------------------------------------------------------------------------


def test_coupon_list_shows_every_issued_coupon_newest_first(analyst_client, shop):
    # when
    response = analyst_client.get(reverse("coupon-list"))

    # then: every column, in the operator's zone, newest issued first
    assert response.status_code == 200
    expected = []
    for label in "EDCBA":
        coupon = shop.coupons[label]
        expected.append(
            [
                coupon.code,
                coupon.customer,
                f"{coupon.campaign_name} {coupon.campaign}",
                f"{coupon.template_name} {coupon.template}",
                coupon.channel,
                coupon.status.capitalize(),
                local_minutes(coupon.issued_at),
                local_minutes(coupon.issued_at + timedelta(days=VALID_DAYS)),
                local_minutes(coupon.redeemed_at),
            ]
        )
    assert table_rows(response) == expected
    assert "<strong>5</strong> coupons issued" in response.content.decode()


def test_coupon_list_links_the_customer_360_and_the_campaign(analyst_client, shop):
    # when
    page = analyst_client.get(reverse("coupon-list")).content.decode()

    # then
    assert f'<a href="{reverse("customer-detail", args=["SH-1"])}">SH-1</a>' in page
    assert f'<a href="{reverse("campaign-detail", args=["summer"])}">Summer tea</a>' in page


@pytest.mark.parametrize(
    ("params", "labels"),
    [
        pytest.param({"campaign": "spring"}, "EBA", id="campaign-spring"),
        pytest.param({"campaign": "summer"}, "DC", id="campaign-summer"),
        pytest.param({"channel": "sms"}, "ECB", id="channel-sms"),
        pytest.param({"channel": "app_push"}, "DA", id="channel-app-push"),
        pytest.param({"status": "redeemed"}, "ECA", id="status-redeemed"),
        pytest.param({"status": "unused"}, "DB", id="status-unused-incl-restored"),
        pytest.param({"status": "expired"}, "", id="status-expired-none"),
        pytest.param({"issued_from": "2026-07-01"}, "EDC", id="from-takes-local-midnight"),
        pytest.param({"issued_to": "2026-06-30"}, "BA", id="to-takes-the-last-local-second"),
        pytest.param(
            {"issued_from": "2026-06-30", "issued_to": "2026-06-30"}, "BA", id="one-local-day"
        ),
        pytest.param({"issued_to": "2026-06-29"}, "", id="to-before-everything"),
        pytest.param({"customer": "SH-1"}, "CA", id="customer"),
        pytest.param({"customer": " SH-3 "}, "ED", id="customer-trimmed"),
        pytest.param({"customer": "SH"}, "", id="customer-exact-only"),
        pytest.param({"campaign": "spring", "channel": "sms"}, "EB", id="campaign-and-channel"),
    ],
)
def test_each_coupon_filter_narrows_the_list_exactly(analyst_client, shop, params, labels):
    # when
    response = analyst_client.get(reverse("coupon-list"), params)

    # then
    assert response.status_code == 200
    assert response.context["filterset"].form.errors == {}
    assert listed_coupons(response) == coupon_codes(shop, labels)
    assert response.context["paginator"].count == len(labels)


def test_coupon_filters_offer_the_campaigns_and_channels_that_exist(analyst_client, shop):
    # when
    form = analyst_client.get(reverse("coupon-list")).context["filterset"].form

    # then
    assert list(form.fields["campaign"].choices) == [
        ("", "Any"),
        ("spring", "Spring snacks (spring)"),
        ("summer", "Summer tea (summer)"),
    ]
    assert list(form.fields["channel"].choices) == [
        ("", "Any"),
        ("app_push", "App push"),
        ("sms", "SMS"),
    ]
    assert [value for value, _ in form.fields["status"].choices] == [
        "",
        "unused",
        "redeemed",
        "expired",
        "revoked",
        "pending",
    ]


def test_filter_forms_name_their_fields_in_the_marketers_words(analyst_client, shop):
    # when
    coupons = analyst_client.get(reverse("coupon-list")).context["filterset"].form
    redemptions = analyst_client.get(reverse("redemption-list")).context["filterset"].form

    # then
    assert [field.label for field in coupons] == [
        "Campaign",
        "Channel",
        "Status",
        "Issued from",
        "Issued to",
        "Customer id",
    ]
    assert [field.label for field in redemptions] == [
        "Campaign",
        "Channel",
        "Status",
        "Redeemed from",
        "Redeemed to",
        "Customer id",
    ]
    assert list(redemptions.fields["status"].choices) == [
        ("", "Any"),
        ("live", "Live"),
        ("reversed", "Reversed (order refunded)"),
    ]


@pytest.mark.parametrize(
    ("list_name", "params", "sentence"),
    [
        ("coupon-list", {"campaign": "summer"}, "<strong>2</strong> coupons match the filters"),
        ("coupon-list", {"customer": "SH-2"}, "<strong>1</strong> coupon matches the filters"),
        ("redemption-list", {"status": "reversed"}, "<strong>1</strong> redemption matches"),
        ("redemption-list", {"status": "reversed"}, "1 order, each counted once"),
        ("redemption-list", {"status": "live"}, "2 orders, each counted once"),
    ],
)
def test_counts_read_as_sentences(analyst_client, shop, list_name, params, sentence):
    # when
    page = analyst_client.get(reverse(list_name), params).content.decode()

    # then
    assert sentence in page


def test_coupon_export_is_the_filtered_list_in_the_operators_zone(analyst_client, shop):
    # when
    response = analyst_client.get(reverse("coupon-export"), {"channel": "sms"})

    # then
    assert response["Content-Disposition"].startswith('attachment; filename="coupons-')
    rows = csv_rows(response)
    assert rows[0] == [
        "code",
        "customer_id",
        "campaign",
        "template",
        "channel",
        "status",
        "issued_at",
        "valid_from",
        "valid_until",
        "redeemed_at",
    ]
    expected = [
        [
            coupon.code,
            coupon.customer,
            coupon.campaign,
            coupon.template,
            coupon.channel,
            coupon.status,
            local_iso(coupon.issued_at),
            local_iso(coupon.issued_at),
            local_iso(coupon.issued_at + timedelta(days=VALID_DAYS)),
            local_iso(coupon.redeemed_at),
        ]
        for coupon in sorted(shop.coupons.values(), key=lambda c: c.issued_at, reverse=True)
        if coupon.channel == "sms"
    ]
    assert rows[1:] == expected
    assert [row[0] for row in rows[1:]] == coupon_codes(shop, "ECB")
    assert rows[3][6] == "2026-06-30T23:59:59+08:00"


def test_coupon_export_button_keeps_the_filters(analyst_client, shop):
    # when
    page = analyst_client.get(
        reverse("coupon-list"), {"campaign": "spring", "channel": "sms"}
    ).content.decode()

    # then
    assert f'href="{reverse("coupon-export")}?campaign=spring&amp;channel=sms"' in page


# Redemptions -----------------------------------------------------------------------------


def test_redemption_list_shows_every_redemption_newest_first_with_reversals(analyst_client, shop):
    # when
    response = analyst_client.get(reverse("redemption-list"))

    # then
    assert response.status_code == 200
    expected = []
    for label in ["R4", "R3", "R2", "R1"]:
        used = shop.redemptions[label]
        coupon = shop.coupons[used.coupon]
        expected.append(
            [
                coupon.code,
                coupon.customer,
                f"{coupon.campaign_name} {coupon.campaign}",
                coupon.channel,
                used.order_id,
                f"{used.amount:.2f}",
                f"{used.discount:.2f}",
                used.store,
                used.city,
                local_minutes(used.redeemed_at),
                f"Reversed {local_minutes(used.reversed_at)}" if used.reversed_at else "Live",
            ]
        )
    assert table_rows(response) == expected
    assert expected[1][-1] == "Reversed 2026-07-02 08:00"


def test_redemption_totals_count_each_order_once(analyst_client, shop):
    # when
    response = analyst_client.get(reverse("redemption-list"))

    # then: O-100 used two coupons; its 80.00 counts once
    totals = response.context["totals"]
    assert {
        "redemptions": totals.redemptions,
        "reversed": totals.reversed,
        "orders": totals.orders,
        "order_amount": totals.order_amount,
        "discount": totals.discount,
    } == {
        "redemptions": 4,
        "reversed": 1,
        "orders": 3,
        "order_amount": Decimal("195.50"),
        "discount": Decimal("50.00"),
    }
    page = response.content.decode()
    assert '<p class="stat-value">195.50</p>' in page
    assert '<p class="stat-value">50.00</p>' in page
    assert "3 orders, each counted once" in page
    assert "1 reversed (order refunded)" in page


@pytest.mark.parametrize(
    ("params", "labels"),
    [
        pytest.param({"campaign": "spring"}, ["R4", "R1"], id="campaign-spring"),
        pytest.param({"campaign": "summer"}, ["R3", "R2"], id="campaign-summer"),
        pytest.param({"channel": "sms"}, ["R4", "R2"], id="channel-of-the-coupon-sms"),
        pytest.param({"channel": "app_push"}, ["R3", "R1"], id="channel-app-push"),
        pytest.param({"status": "live"}, ["R4", "R2", "R1"], id="live"),
        pytest.param({"status": "reversed"}, ["R3"], id="reversed"),
        pytest.param({"redeemed_from": "2026-07-01"}, ["R4", "R3", "R2"], id="from-midnight"),
        pytest.param({"redeemed_to": "2026-06-30"}, ["R1"], id="to-last-local-second"),
        pytest.param(
            {"redeemed_from": "2026-07-01", "redeemed_to": "2026-07-01"},
            ["R4", "R3", "R2"],
            id="one-local-day",
        ),
        pytest.param({"customer": "SH-1"}, ["R2", "R1"], id="customer"),
        pytest.param({"customer": "SH-2"}, [], id="customer-without-redemptions"),
        pytest.param({"campaign": "summer", "status": "live"}, ["R2"], id="campaign-and-live"),
    ],
)
def test_each_redemption_filter_narrows_the_list_and_its_totals(
    analyst_client, shop, params, labels
):
    # when
    response = analyst_client.get(reverse("redemption-list"), params)

    # then
    assert response.status_code == 200
    assert response.context["filterset"].form.errors == {}
    assert listed_redemptions(response) == redemption_keys(shop, labels)
    totals = response.context["totals"]
    assert {
        "redemptions": totals.redemptions,
        "reversed": totals.reversed,
        "orders": totals.orders,
        "order_amount": totals.order_amount,
        "discount": totals.discount,
    } == expected_totals(shop, labels)


def test_redemption_export_is_the_filtered_list(analyst_client, shop):
    # when
    response = analyst_client.get(reverse("redemption-export"), {"campaign": "summer"})

    # then
    assert response["Content-Disposition"].startswith('attachment; filename="redemptions-')
    rows = csv_rows(response)
    assert rows[0] == [
        "coupon",
        "customer_id",
        "campaign",
        "channel",
        "order_id",
        "order_amount",
        "discount",
        "store",
        "city",
        "redeemed_at",
        "status",
        "reversed_at",
    ]
    expected = [
        [
            shop.coupons[used.coupon].code,
            shop.coupons[used.coupon].customer,
            shop.coupons[used.coupon].campaign,
            shop.coupons[used.coupon].channel,
            used.order_id,
            f"{used.amount:.2f}",
            f"{used.discount:.2f}",
            used.store,
            used.city,
            local_iso(used.redeemed_at),
            "reversed" if used.reversed_at else "live",
            local_iso(used.reversed_at),
        ]
        for used in sorted(shop.redemptions.values(), key=lambda r: r.redeemed_at, reverse=True)
        if shop.coupons[used.coupon].campaign == "summer"
    ]
    assert rows[1:] == expected
    assert [row[10] for row in rows[1:]] == ["reversed", "live"]
    assert rows[1][11] == "2026-07-02T08:00:00+08:00"


def test_redemption_export_button_keeps_the_filters(analyst_client, shop):
    # when
    page = analyst_client.get(
        reverse("redemption-list"), {"status": "live", "page": "1"}
    ).content.decode()

    # then
    assert f'href="{reverse("redemption-export")}?status=live"' in page


# Both lists ------------------------------------------------------------------------------


def test_phone_and_email_appear_on_neither_list_nor_export(client, admin_user, shop):
    # given the one who may see personal data
    client.force_login(admin_user)

    # when
    with CaptureQueriesContext(connection) as queries:
        bodies = [
            client.get(reverse("coupon-list")).content.decode(),
            client.get(reverse("redemption-list")).content.decode(),
            b"".join(client.get(reverse("coupon-export")).streaming_content).decode(),
            b"".join(client.get(reverse("redemption-export")).streaming_content).decode(),
        ]

    # then: not even read from the database
    read = " ".join(query["sql"] for query in queries.captured_queries)
    assert '"crm_customer"."customer_id"' in read
    assert '"crm_customer"."phone"' not in read
    assert '"crm_customer"."email"' not in read
    for phone, email in PERSONAL.values():
        for body in bodies:
            assert phone not in body
            assert phone[-4:] not in body  # not even masked
            assert email not in body
            assert email.split("@")[1] not in body


def test_exports_neutralise_spreadsheet_formulas(
    make_campaign, make_template, app_push, analyst_client, as_of
):
    # given a customer id and a store that a spreadsheet would run
    CustomerFactory(customer_id="@SH-9")
    make_campaign(code="plain", template=make_template(code="plain-t"))
    coupon = claim_coupon(
        campaign="plain",
        customer="@SH-9",
        channel=app_push.code,
        trigger="login",
        idempotency_key="k",
        now=as_of,
    ).coupons[0]
    redeem_coupon(
        code=coupon.code,
        customer=Customer.objects.get(customer_id="@SH-9"),
        order_id="-5",
        amount=Decimal("80.00"),
        items=[NUTS],
        store='=HYPERLINK("http://evil.example","x")',
        city="Shanghai",
        now=as_of,
    )

    # when
    coupons = csv_rows(analyst_client.get(reverse("coupon-export")))
    redemptions = csv_rows(analyst_client.get(reverse("redemption-export")))

    # then: text gets a leading quote; a negative-looking number stays data
    assert coupons[1][:2] == [coupon.code, "'@SH-9"]
    assert redemptions[1][:2] == [coupon.code, "'@SH-9"]
    assert redemptions[1][4] == "-5"
    assert redemptions[1][7] == '\'=HYPERLINK("http://evil.example","x")'


@pytest.fixture
def sixty_coupons(make_campaign, make_template, app_push, as_of):
    """60 coupons: two claims of 30 coupons each, then all 60 redeemed on their own order."""
    make_campaign(code="bulk", template=make_template(code="bulk-t"), quantity=30)
    customers = [CustomerFactory(customer_id=f"BULK-{n}") for n in range(2)]
    coupons = []
    for n, customer in enumerate(customers):
        coupons += claim_coupon(
            campaign="bulk",
            customer=customer.customer_id,
            channel=app_push.code,
            trigger="login",
            idempotency_key=f"bulk-{n}",
            now=as_of + timedelta(minutes=n),
        ).coupons
    for n, coupon in enumerate(coupons):
        redeem_coupon(
            code=coupon.code,
            customer=customers[0] if coupon.customer_id == customers[0].pk else customers[1],
            order_id=f"BULK-O{n:02d}",
            amount=Decimal("80.00"),
            items=[NUTS],
            store="S1",
            city="Shanghai",
            now=as_of + timedelta(hours=1, seconds=n),
        )
    return coupons


@pytest.mark.parametrize(
    ("list_name", "listed"),
    [("coupon-list", listed_coupons), ("redemption-list", listed_redemptions)],
)
def test_lists_are_paginated_by_50_keeping_the_filters(
    analyst_client, sixty_coupons, list_name, listed
):
    # when
    params = {"campaign": "bulk"}
    first = analyst_client.get(reverse(list_name), params)
    second = analyst_client.get(reverse(list_name), {**params, "page": "2"})
    beyond = analyst_client.get(reverse(list_name), {**params, "page": "3"})

    # then
    assert (len(listed(first)), len(listed(second))) == (50, 10)
    assert set(listed(first)).isdisjoint(listed(second))
    assert len(set(listed(first)) | set(listed(second))) == 60
    assert "<strong>60</strong>" in first.content.decode()
    assert 'href="?campaign=bulk&amp;page=2"' in first.content.decode()
    assert beyond.status_code == 404


def test_coupon_pages_run_newest_first_across_pages(analyst_client, sixty_coupons):
    # given: the second customer's 30 coupons were issued a minute after the first's
    second_customer = {c.code for c in sixty_coupons if c.customer.customer_id == "BULK-1"}

    # when
    first = listed_coupons(analyst_client.get(reverse("coupon-list")))

    # then
    assert set(first[:30]) == second_customer


def test_redemption_totals_cover_every_page_not_only_the_shown_one(analyst_client, sixty_coupons):
    # when
    second = analyst_client.get(reverse("redemption-list"), {"page": "2"})

    # then: 60 cash coupons of 10.00 on 60 orders of 80.00
    totals = second.context["totals"]
    assert (totals.redemptions, totals.orders, totals.order_amount, totals.discount) == (
        60,
        60,
        Decimal("4800.00"),
        Decimal("600.00"),
    )


@pytest.mark.parametrize("list_name", ["coupon-list", "redemption-list"])
def test_list_reads_in_the_same_number_of_queries_for_5_or_65_rows(
    analyst_client, shop, make_campaign, make_template, app_push, as_of, list_name
):
    # given the shop's handful of rows
    with CaptureQueriesContext(connection) as few:
        assert analyst_client.get(reverse(list_name)).status_code == 200

    # when 60 more coupons and redemptions exist
    make_campaign(code="bulk", template=make_template(code="bulk-t"), quantity=30)
    for n in range(2):
        customer = CustomerFactory(customer_id=f"BULK-{n}")
        for coupon in claim_coupon(
            campaign="bulk",
            customer=customer.customer_id,
            channel=app_push.code,
            trigger="login",
            idempotency_key=f"bulk-{n}",
            now=as_of,
        ).coupons:
            redeem_coupon(
                code=coupon.code,
                customer=customer,
                order_id=f"O-{coupon.code}",
                amount=Decimal("80.00"),
                items=[NUTS],
                store="S1",
                city="Shanghai",
                now=as_of,
            )
    with CaptureQueriesContext(connection) as many:
        response = analyst_client.get(reverse(list_name))

    # then: never a query per row
    assert len(response.context["paginator"].page(1).object_list) == 50
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.parametrize(
    "url_name", ["coupon-list", "coupon-export", "redemption-list", "redemption-export"]
)
@pytest.mark.parametrize(
    ("role", "expected"),
    [("marketer", 200), ("analyst", 200), ("support", 403), ("integration", 403)],
)
def test_pages_open_to_marketers_and_analysts_only(client, shop, request, url_name, role, expected):
    # given
    client.force_login(request.getfixturevalue(role))

    # when
    response = client.get(reverse(url_name))

    # then
    assert response.status_code == expected


@pytest.mark.parametrize(
    "url_name", ["coupon-list", "coupon-export", "redemption-list", "redemption-export"]
)
def test_anonymous_visitors_are_sent_to_log_in(client, url_name):
    # when
    response = client.get(reverse(url_name))

    # then
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={reverse(url_name)}"


@pytest.mark.parametrize(
    ("list_name", "params", "errors"),
    [
        pytest.param(
            "coupon-list",
            {"campaign": "nope"},
            {"campaign": ["Select a valid choice. nope is not one of the available choices."]},
            id="unknown-campaign",
        ),
        pytest.param(
            "coupon-list",
            {"channel": "sms\x00"},
            {"channel": ["Select a valid choice. sms\x00 is not one of the available choices."]},
            id="nul-in-channel",
        ),
        pytest.param(
            "coupon-list",
            {"status": "lost"},
            {"status": ["Select a valid choice. lost is not one of the available choices."]},
            id="unknown-status",
        ),
        pytest.param(
            "coupon-list",
            {"issued_from": "2026-02-30"},
            {"issued_from": ["Enter a valid date."]},
            id="impossible-date",
        ),
        pytest.param(
            "coupon-list",
            {"issued_to": "2026-07-01\x00"},
            {"issued_to": ["Enter a valid date."]},
            id="nul-in-date",
        ),
        pytest.param(
            "coupon-list",
            {"customer": "SH-1\x00"},
            {"customer": ["Null characters are not allowed."]},
            id="nul-in-customer",
        ),
        pytest.param(
            "coupon-list",
            {"issued_from": "2026-07-02", "issued_to": "2026-07-01"},
            {"issued_to": ["This date is before the date it runs from."]},
            id="reversed-range",
        ),
        pytest.param(
            "redemption-list",
            {"campaign": "\x00"},
            {"campaign": ["Select a valid choice. \x00 is not one of the available choices."]},
            id="redemption-nul-campaign",
        ),
        pytest.param(
            "redemption-list",
            {"status": "refunded"},
            {"status": ["Select a valid choice. refunded is not one of the available choices."]},
            id="redemption-unknown-status",
        ),
        pytest.param(
            "redemption-list",
            {"redeemed_from": "yesterday"},
            {"redeemed_from": ["Enter a valid date."]},
            id="redemption-bad-date",
        ),
        pytest.param(
            "redemption-list",
            {"redeemed_from": "2026-07-02", "redeemed_to": "2026-07-01"},
            {"redeemed_to": ["This date is before the date it runs from."]},
            id="redemption-reversed-range",
        ),
    ],
)
def test_bad_filter_values_are_form_errors_on_the_page_and_400_on_export(
    analyst_client, shop, list_name, params, errors
):
    # when
    page = analyst_client.get(reverse(list_name), params)
    export = analyst_client.get(reverse(list_name.replace("-list", "-export")), params)

    # then: the page shows the error beside the field, the export refuses to guess
    assert page.status_code == 200
    assert page.context["filterset"].form.errors == errors
    assert '<small class="field-error">' in page.content.decode()
    assert export.status_code == 400
    assert export["Content-Type"] == "text/plain; charset=utf-8"
    for name, messages in errors.items():
        assert f"{name}: {' '.join(messages)}" in export.content.decode()


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"issued_from": "0001-01-01"}, id="first-day-forms-accept"),
        pytest.param({"issued_to": "9999-12-31"}, id="last-day-forms-accept"),
    ],
)
def test_extreme_dates_list_everything(analyst_client, shop, params):
    # when
    response = analyst_client.get(reverse("coupon-list"), params)
    export = analyst_client.get(reverse("coupon-export"), params)

    # then
    assert response.status_code == 200
    assert response.context["filterset"].form.errors == {}
    assert listed_coupons(response) == coupon_codes(shop, "EDCBA")
    assert len(csv_rows(export)) == 6


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"redeemed_from": "0001-01-01"}, id="first-day-forms-accept"),
        pytest.param({"redeemed_to": "9999-12-31"}, id="last-day-forms-accept"),
    ],
)
def test_extreme_redemption_dates_list_everything(analyst_client, shop, params):
    # when
    response = analyst_client.get(reverse("redemption-list"), params)

    # then
    assert response.status_code == 200
    assert listed_redemptions(response) == redemption_keys(shop, ["R4", "R3", "R2", "R1"])


def test_empty_lists_say_so(analyst_client):
    # when
    coupons = analyst_client.get(reverse("coupon-list")).content.decode()
    redemptions = analyst_client.get(reverse("redemption-list")).content.decode()

    # then
    assert "No coupons issued yet." in coupons
    assert "No redemptions yet." in redemptions
    assert '<p class="stat-value">0.00</p>' in redemptions


def test_navigation_links_both_lists(analyst_client, shop):
    # when
    page = analyst_client.get(reverse("coupon-list")).content.decode()

    # then
    assert f'<a href="{reverse("coupon-list")}" aria-current="page">Coupons</a>' in page
    assert f'<a href="{reverse("redemption-list")}">Redemptions</a>' in page
