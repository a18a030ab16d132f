"""Demo data: a snack retailer's customers, with years of orders and behaviour, loaded in
bulk and reproducible from a seed (demo.shop describes the shop, demo.shoppers makes the
rows, demo.loading copies them in)."""

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

from django.core.management.color import no_style
from django.db import connection, transaction
from django.db.models import Max

from crm.models import BehaviourEvent, Channel, Customer, Identity, Order, OrderItem, Tag
from crm.services import metrics
from crm.services.metrics import RecomputeResult
from demo.loading import LOADED_TABLES, CopyLoader, IndexesSetAside
from demo.shop import (
    CHANNEL_SENDING_RULES,
    DEFAULT_EVENTS_PER_CUSTOMER,
    DEMO_TAGS,
    MARKETING_CHANNELS,
)
from demo.shoppers import ShopperGenerator


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
        Channel.objects.get_or_create(
            code=code,
            defaults={"name": name, "kind": kind, **CHANNEL_SENDING_RULES.get(code, {})},
        )
    tag_ids = {name: Tag.objects.get_or_create(name=name)[0].pk for name in DEMO_TAGS}
    counts = dict.fromkeys(LOADED_TABLES, 0)
    tables = [table.name for table in LOADED_TABLES.values()]
    with connection.cursor() as cursor:
        # Customers and orders get explicit ids: nobody may add rows meanwhile.
        cursor.execute(f"LOCK TABLE {', '.join(tables)} IN SHARE ROW EXCLUSIVE MODE")
        first_customer_pk = (Customer.objects.aggregate(last=Max("pk"))["last"] or 0) + 1
        first_order_pk = (Order.objects.aggregate(last=Max("pk"))["last"] or 0) + 1
        generator = ShopperGenerator(
            seed=seed, as_of=as_of, events_per_customer=events_per_customer, tag_ids=tag_ids
        )
        bulk = not any(
            model.objects.exists()
            for model in (Customer, Identity, Order, OrderItem, BehaviourEvent)
        )
        loader = CopyLoader(cursor)
        with IndexesSetAside(cursor, tables) if bulk else nullcontext():
            for batch in generator.batches(
                customers=customers,
                first_customer_pk=first_customer_pk,
                first_order_pk=first_order_pk,
            ):
                for key in LOADED_TABLES:
                    rows = getattr(batch, key)
                    loader.write(key, rows)
                    counts[key] += len(rows)
                if on_progress is not None:
                    on_progress(len(batch.customers))
        for statement in connection.ops.sequence_reset_sql(no_style(), [Customer, Order]):
            cursor.execute(statement)
        # Fresh planner statistics: autovacuum may be off, and always runs behind a bulk load.
        for table in tables:
            cursor.execute(f"ANALYZE {table}")
    result = metrics.recompute_customer_metrics(as_of=as_of)
    return DemoDataSummary(skipped=False, **counts, metrics=result)
