"""manage.py import_referrals FILE.csv: record referrals (referrer, referee, referred_at)."""

from crm.enums import ImportKind
from crm.management.commands.import_customers import ImportCommand


class Command(ImportCommand):
    kind = ImportKind.REFERRALS
