"""factory_boy factories with deterministic values."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import factory

from crm.models import BehaviourEvent, Channel, Customer, Order, OrderItem

UTC = ZoneInfo("UTC")


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"channel_{n}")
    name = factory.LazyAttribute(lambda channel: channel.code.replace("_", " ").title())
    kind = "off_site"


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    customer_id = factory.Sequence(lambda n: f"C{n:06d}")
    name = factory.Sequence(lambda n: f"Customer {n}")
    city = "Shanghai"


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    order_id = factory.Sequence(lambda n: f"O{n:08d}")
    customer = factory.SubFactory(CustomerFactory)
    placed_at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    amount = Decimal("100.00")
    channel = "app"
    status = "paid"


class OrderItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderItem

    order = factory.SubFactory(OrderFactory)
    sku = factory.Sequence(lambda n: f"SKU{n:05d}")
    category = "nuts"
    quantity = 1
    unit_price = Decimal("100.00")


class BehaviourEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BehaviourEvent

    customer = factory.SubFactory(CustomerFactory)
    kind = "visit"
    occurred_at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    channel = "app"
