"""Demo data: reproducible from a seed, internally consistent, and ready to use (metrics
filled) after `manage.py generate_demo_data`."""

import hashlib
from datetime import datetime, timedelta
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, DecimalField, F, Max, Min, Q, Sum

from crm.enums import EventKind, LifecycleStage, OrderStatus
from crm.models import (
    BehaviourEvent,
    Channel,
    Customer,
    Identity,
    Order,
    OrderItem,
    RfmBreakpoints,
    StageChange,
    Tag,
)
from demo.customers import generate_demo_data
from demo.shop import (
    CATEGORY_WEIGHTS,
    DEMO_COUPONS,
    DEMO_TAGS,
    HISTORY_DAYS,
    IDENTITY_SOURCES,
    MARKETING_CHANNELS,
    PRODUCTS,
    SALES_CHANNEL_WEIGHTS,
)
from tests.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db

AS_OF = datetime(2026, 6, 30, 12, 0, tzinfo=ZoneInfo("UTC"))
CustomerTag = Customer.tags.through


def fingerprint() -> dict:
    """Row counts, amount totals and a checksum of every table's rows in a stable order,
    by external ids (internal ids of items and events depend on the database's sequences)."""
    tables = {
        "customers": Customer.objects.order_by("customer_id").values_list(
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
            "lifecycle_stage",
            "rfm_group",
        ),
        "identities": Identity.objects.order_by("source", "external_id").values_list(
            "source", "external_id", "customer__customer_id"
        ),
        "tags": CustomerTag.objects.order_by("customer__customer_id", "tag__name").values_list(
            "customer__customer_id", "tag__name"
        ),
        "orders": Order.objects.order_by("order_id").values_list(
            "order_id",
            "customer__customer_id",
            "placed_at",
            "amount",
            "channel",
            "store",
            "city",
            "status",
            "coupon_code",
        ),
        "items": OrderItem.objects.order_by("order__order_id", "sku").values_list(
            "order__order_id", "sku", "category", "quantity", "unit_price"
        ),
        "events": BehaviourEvent.objects.order_by(
            "customer__customer_id", "occurred_at", "kind", "channel", "sku"
        ).values_list("customer__customer_id", "kind", "occurred_at", "channel", "sku", "payload"),
    }
    result = {
        name: (len(rows), hashlib.sha256(repr(list(rows)).encode()).hexdigest())
        for name, rows in tables.items()
    }
    result["amounts"] = Order.objects.aggregate(
        total=Sum("amount"), paid=Sum("amount", filter=Q(status="paid"))
    )
    return result


def wipe_customer_data() -> None:
    StageChange.objects.all().delete()
    Order.objects.all().delete()  # items go with their orders
    Customer.objects.all().delete()  # identities, events and tags go with their customers
    RfmBreakpoints.objects.all().delete()


def test_same_seed_gives_identical_rows():
    # given
    generate_demo_data(customers=200, seed=11, as_of=AS_OF)
    first = fingerprint()
    wipe_customer_data()
    # when
    generate_demo_data(customers=200, seed=11, as_of=AS_OF)
    # then
    assert fingerprint() == first
    assert first["customers"][0] == 200


def test_different_seed_gives_different_rows():
    # given
    generate_demo_data(customers=200, seed=11, as_of=AS_OF)
    first = fingerprint()
    wipe_customer_data()
    # when
    generate_demo_data(customers=200, seed=12, as_of=AS_OF)
    # then: same number of customers, different everything else
    second = fingerprint()
    assert second["customers"][0] == first["customers"][0] == 200
    changed = {name for name in first if first[name] != second[name]}
    assert changed == {"customers", "identities", "tags", "orders", "items", "events", "amounts"}


def test_every_order_amount_is_its_items_total_less_its_coupon_discount():
    # given
    generate_demo_data(customers=200, seed=3, as_of=AS_OF)
    # when
    orders = Order.objects.annotate(
        items_total=Sum(F("items__quantity") * F("items__unit_price"), output_field=DecimalField()),
        item_lines=Count("items"),
    )
    # then
    inconsistent = []
    for order in orders:
        coupon = DEMO_COUPONS.get(order.coupon_code)
        expected = order.items_total - (coupon.discount if coupon else Decimal("0"))
        if order.coupon_code and coupon is None:
            inconsistent.append((order.order_id, "unknown coupon"))
        elif coupon and order.items_total < coupon.threshold:
            inconsistent.append((order.order_id, "below the coupon's threshold"))
        elif order.amount != expected or order.item_lines == 0:
            inconsistent.append((order.order_id, order.amount, expected))
    assert inconsistent == []
    assert orders.exclude(coupon_code="").exists()


def test_items_come_from_the_catalogue_at_catalogue_prices():
    # given
    generate_demo_data(customers=200, seed=3, as_of=AS_OF)
    catalogue = {(p.sku, p.category, p.price) for p in PRODUCTS}
    # when
    sold = set(OrderItem.objects.values_list("sku", "category", "unit_price").distinct())
    # then
    assert sold - catalogue == set()
    assert {category for _, category, _ in sold} == set(CATEGORY_WEIGHTS)


def test_values_are_valid_and_cover_every_choice():
    # given
    generate_demo_data(customers=300, seed=5, as_of=AS_OF)
    # then
    assert set(Order.objects.values_list("status", flat=True)) == set(OrderStatus.values)
    assert set(Order.objects.values_list("channel", flat=True)) == set(SALES_CHANNEL_WEIGHTS)
    assert set(BehaviourEvent.objects.values_list("kind", flat=True)) == set(EventKind.values)
    assert set(Customer.objects.values_list("member_tier", flat=True)) == {
        "",
        "silver",
        "gold",
        "platinum",
    }
    assert set(Identity.objects.values_list("source", flat=True)) == set(IDENTITY_SOURCES)
    assert set(Tag.objects.values_list("name", flat=True)) == set(DEMO_TAGS)
    tagged = set(CustomerTag.objects.values_list("tag__name", flat=True))
    assert {"vip", "student", "gift_buyer"} <= tagged <= set(DEMO_TAGS)
    assert set(Channel.objects.values_list("code", "kind")) == {
        (code, kind) for code, _, kind in MARKETING_CHANNELS
    }
    assert Order.objects.filter(channel="store", store="").count() == 0
    assert Order.objects.exclude(channel="store").exclude(store="").count() == 0
    assert Customer.objects.filter(is_member=False).exclude(member_tier="").count() == 0


def test_nothing_is_dated_after_as_of_or_before_the_history():
    # given
    generate_demo_data(customers=200, seed=5, as_of=AS_OF)
    # when
    orders = Order.objects.aggregate(first=Min("placed_at"), last=Max("placed_at"))
    events = BehaviourEvent.objects.aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
    registered = Customer.objects.aggregate(last=Max("registered_at"))
    # then
    start = AS_OF - timedelta(days=HISTORY_DAYS + 1)
    assert start <= orders["first"] <= orders["last"] <= AS_OF
    assert start <= events["first"] <= events["last"] <= AS_OF
    assert registered["last"] <= AS_OF
    late_registrations = Customer.objects.filter(orders__placed_at__lt=F("registered_at"))
    assert late_registrations.count() == 0


def test_customer_and_identity_ids_are_unique():
    # given
    generate_demo_data(customers=200, seed=8, as_of=AS_OF)
    # when
    customers = Customer.objects.aggregate(
        rows=Count("pk"), ids=Count("customer_id", distinct=True)
    )
    identities = Identity.objects.values("source", "external_id").annotate(n=Count("pk"))
    # then
    assert customers == {"rows": 200, "ids": 200}
    assert identities.filter(n__gt=1).count() == 0
    assert Identity.objects.values("customer").annotate(n=Count("pk")).filter(n__gte=2).exists()


def test_generating_again_adds_customers_after_the_existing_ones():
    # given
    generate_demo_data(customers=40, seed=1, as_of=AS_OF)
    orders_before = Order.objects.count()
    # when
    summary = generate_demo_data(customers=40, seed=2, as_of=AS_OF)
    # then
    assert summary.customers == 40
    assert Customer.objects.count() == 80
    assert Customer.objects.order_by("customer_id").last().customer_id == "C0000080"
    assert Order.objects.count() == orders_before + summary.orders


def test_command_leaves_every_paying_customer_with_metrics_and_a_stage():
    # given
    out = StringIO()
    # when
    call_command(
        "generate_demo_data",
        "--customers=300",
        "--seed=5",
        f"--as-of={AS_OF.isoformat()}",
        "--events-per-customer=10",
        "--if-empty",
        stdout=out,
        verbosity=0,
    )
    # then
    assert "Generated 300 customers" in out.getvalue()
    paid = Count("orders", filter=Q(orders__status="paid"))
    customers = Customer.objects.annotate(paid_orders=paid)
    assert customers.filter(paid_orders__gt=0, lifecycle_stage="potential").count() == 0
    assert customers.filter(paid_orders=0).exclude(lifecycle_stage="potential").count() == 0
    assert customers.exclude(order_count=F("paid_orders")).count() == 0
    assert customers.filter(paid_orders__gt=0, rfm_group="").count() == 0
    assert set(Customer.objects.values_list("lifecycle_stage", flat=True)) == set(
        LifecycleStage.values
    )
    # about 10 free-standing events per customer, plus the cart adds and reviews around orders
    assert 3000 <= BehaviourEvent.objects.count() < 4500


def test_command_with_if_empty_does_nothing_when_customers_exist():
    # given
    customer = CustomerFactory()
    OrderFactory(customer=customer)
    out = StringIO()
    # when
    call_command("generate_demo_data", "--customers=50", "--if-empty", stdout=out, verbosity=0)
    # then
    assert "no demo data generated" in out.getvalue()
    assert list(Customer.objects.values_list("pk", flat=True)) == [customer.pk]
    assert Order.objects.count() == 1
    assert OrderItem.objects.count() == 0
    assert BehaviourEvent.objects.count() == 0
    assert Identity.objects.count() == 0
    assert Channel.objects.count() == 0
    assert Tag.objects.count() == 0
    assert StageChange.objects.count() == 0
    customer.refresh_from_db()
    assert (customer.order_count, customer.lifecycle_stage) == (0, "potential")


def test_recompute_command_recomputes_the_named_customers():
    # given
    customer = CustomerFactory(customer_id="SHOPPER-1")
    other = CustomerFactory(customer_id="SHOPPER-2")
    OrderFactory(customer=customer, amount=Decimal("88.00"))
    OrderFactory(customer=other, amount=Decimal("12.00"))
    out = StringIO()
    # when
    call_command(
        "recompute_metrics", "--as-of=2026-06-30", "--customer-id", "SHOPPER-1", stdout=out
    )
    # then
    assert "1 customers in scope, 1 updated, 1 stage changes" in out.getvalue()
    customer.refresh_from_db()
    other.refresh_from_db()
    assert (customer.order_count, customer.total_spent) == (1, Decimal("88.00"))
    assert (other.order_count, other.total_spent) == (0, Decimal("0.00"))


def test_recompute_command_refuses_unknown_customer_ids_and_changes_nothing():
    # given
    customer = CustomerFactory(customer_id="SHOPPER-1")
    OrderFactory(customer=customer)
    # when
    with pytest.raises(CommandError, match="Unknown customer id\\(s\\): NOBODY"):
        call_command("recompute_metrics", "--customer-id", "SHOPPER-1", "NOBODY")
    # then
    customer.refresh_from_db()
    assert (customer.order_count, customer.lifecycle_stage) == (0, "potential")
    assert StageChange.objects.count() == 0
