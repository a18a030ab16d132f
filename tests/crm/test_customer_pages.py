"""Customer pages: home dashboard, customer list (filters, search, sort, pages), export, 360."""

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from crm.core.models import Job
from crm.models import Identity, StageChange, Tag
from crm.selectors import BaseCounts, base_counts
from tests.factories import (
    BehaviourEventFactory,
    CustomerFactory,
    OrderFactory,
    OrderItemFactory,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def marketer_client(client, marketer):
    client.force_login(marketer)
    return client


@pytest.fixture
def three_customers(db):
    """Three customers that differ in every filtered attribute."""
    vip = Tag.objects.create(name="vip")
    wholesale = Tag.objects.create(name="wholesale")
    alice = CustomerFactory(
        customer_id="C1",
        name="Alice Wang",
        phone="13800000001",
        email="alice@example.com",
        city="Shanghai",
        region="East",
        gender="female",
        is_member=True,
        member_tier="gold",
        lifecycle_stage="new",
        rfm_group="champions",
        value_tier="high",
        order_count=5,
        total_spent=Decimal("2500.00"),
        last_order_at=datetime(2026, 6, 20, 10, 0, tzinfo=SHANGHAI),
    )
    alice.tags.add(vip, wholesale)
    bob = CustomerFactory(
        customer_id="C2",
        name="Bob Li",
        phone="13800000002",
        email="bob@example.com",
        city="Beijing",
        region="North",
        gender="male",
        is_member=False,
        lifecycle_stage="churned",
        rfm_group="hibernating",
        value_tier="low",
        order_count=1,
        total_spent=Decimal("100.00"),
        # 00:30 local on 5 January is still 4 January in UTC: calendar filters are local.
        last_order_at=datetime(2026, 1, 5, 0, 30, tzinfo=SHANGHAI),
    )
    bob.tags.add(wholesale)
    CustomerFactory(
        customer_id="C3",
        name="Carol Zhang",
        phone="",
        email="",
        city="Shanghai",
        region="East",
        gender="female",
        is_member=True,
        member_tier="silver",
        lifecycle_stage="potential",
        value_tier="none",
    )


def listed_ids(response) -> list[str]:
    return [customer.customer_id for customer in response.context["customers"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({}, ["C1", "C2", "C3"], id="no-filter"),
        pytest.param({"q": "C2"}, ["C2"], id="search-id-exact"),
        pytest.param({"q": "C"}, ["C1", "C2", "C3"], id="search-id-prefix"),
        pytest.param({"q": "alice"}, ["C1"], id="search-name-case-insensitive"),
        pytest.param({"q": "zhang"}, ["C3"], id="search-name-part"),
        pytest.param({"q": "13800000002"}, ["C2"], id="search-full-phone"),
        pytest.param({"q": "1380000000"}, [], id="search-partial-phone-matches-nothing"),
        pytest.param({"q": "BOB@example.com"}, ["C2"], id="search-email"),
        pytest.param({"q": "example.com"}, [], id="search-partial-email-matches-nothing"),
        pytest.param({"city": "shanghai"}, ["C1", "C3"], id="city"),
        pytest.param({"region": "North"}, ["C2"], id="region"),
        pytest.param({"gender": "female"}, ["C1", "C3"], id="gender"),
        pytest.param({"lifecycle_stage": "churned"}, ["C2"], id="lifecycle-stage"),
        pytest.param({"rfm_group": "champions"}, ["C1"], id="rfm-group"),
        pytest.param({"value_tier": "none"}, ["C3"], id="value-tier"),
        pytest.param({"is_member": "true"}, ["C1", "C3"], id="members"),
        pytest.param({"is_member": "false"}, ["C2"], id="non-members"),
        pytest.param({"member_tier": "Gold"}, ["C1"], id="member-tier"),
        pytest.param({"tag": "vip"}, ["C1"], id="tag"),
        pytest.param({"tag": "wholesale"}, ["C1", "C2"], id="tag-each-customer-once"),
        pytest.param({"order_count_min": "1"}, ["C1", "C2"], id="orders-at-least"),
        pytest.param({"order_count_max": "1"}, ["C2", "C3"], id="orders-at-most"),
        pytest.param({"total_spent_min": "100.00"}, ["C1", "C2"], id="spent-at-least-boundary"),
        pytest.param({"total_spent_max": "99.99"}, ["C3"], id="spent-at-most"),
        pytest.param({"last_order_from": "2026-06-20"}, ["C1"], id="last-order-from-inclusive"),
        pytest.param({"last_order_from": "2026-06-21"}, [], id="last-order-from-after"),
        pytest.param({"last_order_to": "2026-01-05"}, ["C2"], id="last-order-to-local-date"),
        pytest.param({"last_order_to": "2026-01-04"}, [], id="last-order-to-before"),
        pytest.param(
            {"city": "Shanghai", "is_member": "true", "tag": "vip"}, ["C1"], id="combined-and"
        ),
    ],
)
def test_each_filter_narrows_the_list_exactly(marketer_client, three_customers, params, expected):
    # given three customers that differ in every attribute

    # when
    response = marketer_client.get(reverse("customer-list"), params)

    # then
    assert response.status_code == 200
    assert listed_ids(response) == expected
    assert response.context["paginator"].count == len(expected)


def test_list_shows_the_count_of_matching_customers(marketer_client, three_customers):
    # when
    response = marketer_client.get(reverse("customer-list"), {"city": "Shanghai"})

    # then
    assert "<strong>2</strong> customers match the filters" in response.content.decode()


def test_invalid_filter_value_is_reported_and_ignored(marketer_client, three_customers):
    # when
    response = marketer_client.get(reverse("customer-list"), {"order_count_min": "many"})

    # then
    assert response.status_code == 200
    assert response.context["filterset"].form.errors == {"order_count_min": ["Enter a number."]}
    assert listed_ids(response) == ["C1", "C2", "C3"]


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        pytest.param("-total_spent", ["C1", "C2", "C3"], id="spent-descending"),
        pytest.param("total_spent", ["C3", "C2", "C1"], id="spent-ascending"),
        pytest.param("last_order_at", ["C2", "C1", "C3"], id="never-ordered-last-ascending"),
        pytest.param("-last_order_at", ["C1", "C2", "C3"], id="never-ordered-last-descending"),
        pytest.param("-name", ["C3", "C2", "C1"], id="name-descending"),
        pytest.param("city", ["C2", "C1", "C3"], id="city-ties-by-customer-id"),
    ],
)
def test_list_sorts_by_column(marketer_client, three_customers, ordering, expected):
    # when
    response = marketer_client.get(reverse("customer-list"), {"ordering": ordering})

    # then
    assert listed_ids(response) == expected


def test_list_is_paginated_by_50_with_page_links(marketer_client):
    # given
    CustomerFactory.create_batch(120)

    # when
    first = marketer_client.get(reverse("customer-list"))
    last = marketer_client.get(reverse("customer-list"), {"page": "3"})
    beyond = marketer_client.get(reverse("customer-list"), {"page": "4"})

    # then
    assert len(listed_ids(first)) == 50
    assert len(listed_ids(last)) == 20
    assert set(listed_ids(first)).isdisjoint(listed_ids(last))
    assert "<strong>120</strong> customers" in first.content.decode()
    assert 'href="?page=3"' in first.content.decode()
    assert beyond.status_code == 404


def test_page_links_keep_the_filters(marketer_client):
    # given
    CustomerFactory.create_batch(60, city="Hangzhou")

    # when
    response = marketer_client.get(reverse("customer-list"), {"city": "Hangzhou"})

    # then
    assert 'href="?city=Hangzhou&amp;page=2"' in response.content.decode()


def test_list_runs_a_fixed_number_of_queries(marketer_client, django_assert_max_num_queries):
    # given 50 customers on the page, each with tags
    tags = [Tag.objects.create(name=f"tag{n}") for n in range(3)]
    for customer in CustomerFactory.create_batch(50):
        customer.tags.add(*tags)

    # when / then: session, user, role, 2 permission lookups, count, page, tags; never per row
    with django_assert_max_num_queries(8):
        response = marketer_client.get(reverse("customer-list"))
    assert len(listed_ids(response)) == 50


def test_export_streams_the_filtered_list_as_csv(marketer_client, three_customers):
    # when
    response = marketer_client.get(reverse("customer-export"), {"city": "Shanghai"})

    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="customers-')
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "customer_id",
        "name",
        "phone",
        "email",
        "gender",
        "city",
        "region",
        "is_member",
        "member_tier",
        "tags",
        "registered_at",
        "order_count",
        "total_spent",
        "avg_order_value",
        "first_order_at",
        "last_order_at",
        "value_tier",
        "lifecycle_stage",
        "rfm_group",
    ]
    assert rows[1:] == [
        [
            "C1",
            "Alice Wang",
            "138****0001",
            "a***@example.com",
            "female",
            "Shanghai",
            "East",
            "yes",
            "gold",
            "vip;wholesale",
            "",
            "5",
            "2500.00",
            "",
            "",
            "2026-06-20T10:00:00+08:00",
            "high",
            "new",
            "champions",
        ],
        [
            "C3",
            "Carol Zhang",
            "",
            "",
            "female",
            "Shanghai",
            "East",
            "yes",
            "silver",
            "",
            "",
            "0",
            "0.00",
            "",
            "",
            "",
            "none",
            "potential",
            "",
        ],
    ]


def test_export_runs_a_fixed_number_of_queries(marketer_client, django_assert_max_num_queries):
    # given
    tag = Tag.objects.create(name="vip")
    for customer in CustomerFactory.create_batch(120):
        customer.tags.add(tag)

    # when / then: session, user, role, 2 permission lookups, customers, tags; never per row
    with django_assert_max_num_queries(7):
        response = marketer_client.get(reverse("customer-export"))
        lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 121


def test_export_neutralises_spreadsheet_formulas(marketer_client):
    # given
    CustomerFactory(customer_id="C9", name='=HYPERLINK("http://evil.example","x")', city="@SUM(A1)")

    # when
    response = marketer_client.get(reverse("customer-export"))

    # then
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[1][:2] == ["C9", '\'=HYPERLINK("http://evil.example","x")']
    assert rows[1][5] == "'@SUM(A1)"


def test_export_follows_the_list_sort_order(marketer_client, three_customers):
    # when
    response = marketer_client.get(reverse("customer-export"), {"ordering": "-total_spent"})

    # then
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row[0] for row in rows[1:]] == ["C1", "C2", "C3"]


@pytest.fixture
def profiled_customer(db):
    customer = CustomerFactory(
        customer_id="C42",
        name="Dora Chen",
        phone="13912345678",
        email="dora@example.com",
        lifecycle_stage="growing",
        rfm_group="loyal",
        rfm_recency=4,
        rfm_frequency=3,
        rfm_monetary=5,
        preferred_category="tea",
        preferred_channel="app",
        promotion_sensitivity=Decimal("0.2500"),
        weekend_buyer=True,
        usual_daypart="evening",
        order_count=2,
        total_spent=Decimal("350.00"),
        consent={"sms": True},
    )
    customer.tags.add(Tag.objects.create(name="vip"))
    Identity.objects.create(customer=customer, source="wechat", external_id="wx-777")
    order = OrderFactory(customer=customer, order_id="O-A", amount=Decimal("250.00"))
    OrderItemFactory(order=order, sku="TEA-01", category="tea", quantity=2)
    OrderFactory(customer=customer, order_id="O-B", placed_at=datetime(2026, 2, 1, tzinfo=SHANGHAI))
    BehaviourEventFactory(customer=customer, kind="favorite", sku="TEA-02")
    StageChange.objects.create(
        customer=customer,
        from_stage="new",
        to_stage="growing",
        changed_at=datetime(2026, 4, 1, tzinfo=SHANGHAI),
    )
    return customer


def test_customer_360_shows_profile_labels_history_orders_and_events(
    marketer_client, profiled_customer
):
    # when
    response = marketer_client.get(reverse("customer-detail", args=["C42"]))

    # then
    page = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Dora Chen</h1>" in page
    for expected in (
        "wx-777",  # identity
        ">vip<",  # tag
        "R 4",  # RFM scores
        "M 5",
        "Loyal",  # RFM group
        "25% of orders used a coupon",
        "at weekends, evening (18-22)",
        "O-A",  # latest orders, with items
        "2 \N{MULTIPLICATION SIGN} TEA-01",
        "O-B",
        "Favorite",  # behaviour
        "TEA-02",
        "2026-04-01 00:00",  # stage history
        "sms ✓",
    ):
        assert expected in page, expected
    assert page.index("O-A") < page.index("O-B")


def test_customer_360_runs_a_fixed_number_of_queries(
    marketer_client, profiled_customer, django_assert_max_num_queries
):
    # given many orders with items and events
    for n in range(30):
        order = OrderFactory(customer=profiled_customer)
        OrderItemFactory.create_batch(2, order=order)
        BehaviourEventFactory(
            customer=profiled_customer, occurred_at=datetime(2026, 5, 1, 9, n, tzinfo=SHANGHAI)
        )

    # when / then: session, user, role, 2 permission lookups, customer, 6 prefetches (the
    # points ledger's included), items, the coupons section's customer look-up, latest
    # coupons and count, and the messages section's three likewise
    with django_assert_max_num_queries(19):
        response = marketer_client.get(reverse("customer-detail", args=["C42"]))
    assert len(response.context["customer"].latest_orders) == 20
    assert len(response.context["customer"].latest_events) == 30


def test_customer_360_of_an_unknown_customer_is_404(marketer_client, profiled_customer):
    # when
    response = marketer_client.get(reverse("customer-detail", args=["NOPE"]))

    # then
    assert response.status_code == 404


def test_base_counts_cover_paid_orders_as_of_the_moment(db, as_of):
    # given
    member = CustomerFactory(is_member=True)
    lapsed = CustomerFactory()
    CustomerFactory()  # never ordered
    OrderFactory(customer=member, placed_at=as_of - timedelta(days=1), amount=Decimal("80.50"))
    OrderFactory(customer=member, placed_at=as_of - timedelta(days=29), amount=Decimal("19.50"))
    OrderFactory(customer=lapsed, placed_at=as_of - timedelta(days=31), amount=Decimal("500"))
    OrderFactory(customer=lapsed, placed_at=as_of - timedelta(days=2), status="refunded")
    future = CustomerFactory()
    OrderFactory(customer=future, placed_at=as_of + timedelta(minutes=1))

    # when
    counts = base_counts(as_of=as_of)

    # then
    assert counts == BaseCounts(
        customers=4,
        members=1,
        paying_customers=2,
        recent_paid_orders=2,
        recent_gmv=Decimal("100.00"),
        active_customers=1,
    )


def test_home_page_shows_counts_stage_chart_and_recent_jobs(marketer_client, three_customers):
    # given
    Job.objects.create(kind="import_customers", label="spring-customers.csv", status="failed")

    # when
    response = marketer_client.get(reverse("home"))

    # then
    page = response.content.decode()
    assert response.status_code == 200
    assert 'class="plotly-graph-div"' in page
    assert [(stage.stage, stage.customers) for stage in response.context["stages"]] == [
        ("potential", 1),
        ("churned", 1),
        ("silent", 0),
        ("new", 1),
        ("mature", 0),
        ("declining", 0),
        ("growing", 0),
    ]
    assert response.context["counts"].customers == 3
    assert "spring-customers.csv" in page
    assert '<span class="badge status-failed">Failed</span>' in page


@pytest.mark.parametrize(
    "params",
    [
        {"last_order_to": "9999-12-31"},
        {"last_order_from": "0001-01-01"},
        {"last_order_to": "0001-01-01"},
        {"last_order_from": "9999-12-31"},
    ],
)
def test_extreme_dates_answer_a_page_not_a_server_error(marketer_client, three_customers, params):
    # when
    response = marketer_client.get(reverse("customer-list"), params)
    export = marketer_client.get(reverse("customer-export"), params)

    # then
    assert (response.status_code, export.status_code) == (200, 200)


def test_a_customer_id_with_a_slash_has_its_page_and_its_link(marketer_client):
    # given a placeholder made for a partner's identity "partner:shop/42"
    CustomerFactory(customer_id="partner:shop/42", city="Shanghai")

    # when
    listing = marketer_client.get(reverse("customer-list"))
    page = marketer_client.get("/customers/partner:shop/42/")

    # then
    assert listing.status_code == 200
    assert 'href="/customers/partner:shop/42/"' in listing.content.decode()
    assert page.status_code == 200
    assert "partner:shop/42" in page.content.decode()
