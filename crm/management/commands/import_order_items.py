"""manage.py import_order_items FILE.csv: upsert order items from a CSV file (SPEC §1)."""

from crm.enums import ImportKind
from crm.management.commands.import_customers import ImportCommand


class Command(ImportCommand):
    kind = ImportKind.ORDER_ITEMS
