"""Recompute customers' purchase metrics, labels, lifecycle stages and RFM scores."""

import argparse
from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from crm.models import Customer
from crm.services import metrics


def as_of_argument(value: str) -> datetime:
    """An ISO date or datetime; without an offset it is in the operator's TIME_ZONE, and a
    date alone means its midnight (SPEC §2 time rules)."""
    try:
        moment = parse_datetime(value)
        if moment is None:
            day = parse_date(value)
            moment = None if day is None else datetime.combine(day, time())
    except ValueError:
        moment = None
    if moment is None:
        raise argparse.ArgumentTypeError(f"not an ISO date or datetime: {value!r}")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


class Command(BaseCommand):
    help = (
        "Recompute derived customer metrics, lifecycle stages and RFM as of a moment, for "
        "everyone or for the given customers."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of",
            type=as_of_argument,
            help="ISO date or datetime (default: now); only orders placed by then count",
        )
        parser.add_argument(
            "--customer-id",
            dest="customer_ids",
            action="extend",
            nargs="+",
            metavar="ID",
            help="external customer id(s); default: every customer (also refits RFM edges)",
        )

    def handle(self, *args, as_of, customer_ids, **options):
        as_of = as_of or timezone.now()
        scope = None
        if customer_ids:
            found = dict(
                Customer.objects.filter(customer_id__in=customer_ids).values_list(
                    "customer_id", "pk"
                )
            )
            unknown = sorted(set(customer_ids) - set(found))
            if unknown:
                raise CommandError(f"Unknown customer id(s): {', '.join(unknown)}")
            scope = list(found.values())
        result = metrics.recompute_customer_metrics(as_of=as_of, customer_ids=scope)
        self.stdout.write(
            f"Recomputed metrics as of {as_of.isoformat()}: "
            f"{result.customers_in_scope:,} customers in scope, "
            f"{result.customers_updated:,} updated, {result.stage_changes:,} stage changes."
        )
