"""manage.py import_events FILE.csv: upsert behaviour events from a CSV file (SPEC §1)."""

from crm.enums import ImportKind
from crm.management.commands.import_customers import ImportCommand


class Command(ImportCommand):
    kind = ImportKind.EVENTS
