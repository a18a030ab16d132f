"""manage.py import_order_items FILE.csv: upsert order items from a CSV file (SPEC §1)."""

from crm.management.commands.import_customers import ImportCommand
from crm.services import imports


class Command(ImportCommand):
    kind = imports.ImportKind.ORDER_ITEMS
