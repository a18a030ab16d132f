"""Fill the database with a reproducible demo shop (see demo.customers)."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from crm.management.commands.recompute_metrics import as_of_argument
from demo.customers import generate_demo_data
from demo.shop import DEFAULT_EVENTS_PER_CUSTOMER


class Command(BaseCommand):
    help = (
        "Generate demo customers, identities, tags, orders with items and behaviour events "
        "of a snack retailer, then recompute every customer's metrics, stage and RFM."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, required=True, help="customers to add")
        parser.add_argument(
            "--seed", type=int, default=42, help="the same seed gives the same data (42)"
        )
        parser.add_argument(
            "--events-per-customer",
            type=int,
            default=DEFAULT_EVENTS_PER_CUSTOMER,
            help=f"average behaviour events per customer ({DEFAULT_EVENTS_PER_CUSTOMER})",
        )
        parser.add_argument(
            "--as-of",
            type=as_of_argument,
            help="ISO date or datetime the data ends at (default: now)",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing when customers already exist (for repeated demo starts)",
        )

    def handle(self, *args, customers, seed, events_per_customer, as_of, if_empty, **options):
        if customers < 0 or events_per_customer < 0:
            raise CommandError("--customers and --events-per-customer must not be negative")
        as_of = as_of or timezone.now()
        with tqdm(
            total=customers, unit=" customers", leave=False, disable=options["verbosity"] == 0
        ) as progress:
            summary = generate_demo_data(
                customers=customers,
                seed=seed,
                as_of=as_of,
                events_per_customer=events_per_customer,
                only_if_empty=if_empty,
                on_progress=progress.update,
            )
        if summary.skipped:
            self.stdout.write("Customers already exist: no demo data generated (--if-empty).")
            return
        self.stdout.write(
            f"Generated {summary.customers:,} customers, {summary.identities:,} identities, "
            f"{summary.customer_tags:,} tags on customers, {summary.orders:,} orders with "
            f"{summary.order_items:,} items and {summary.events:,} behaviour events "
            f"(seed {seed}, as of {as_of.isoformat()})."
        )
        result = summary.metrics
        self.stdout.write(
            f"Metrics recomputed: {result.customers_in_scope:,} customers in scope, "
            f"{result.customers_updated:,} updated, {result.stage_changes:,} stage changes."
        )
