"""manage.py import_orders FILE.csv: upsert orders from a CSV file (SPEC §1)."""

from crm.management.commands.import_customers import ImportCommand
from crm.services import imports


class Command(ImportCommand):
    kind = imports.ImportKind.ORDERS
