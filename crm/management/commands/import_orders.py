"""manage.py import_orders FILE.csv: upsert orders from a CSV file (SPEC §1)."""

from crm.enums import ImportKind
from crm.management.commands.import_customers import ImportCommand


class Command(ImportCommand):
    kind = ImportKind.ORDERS
