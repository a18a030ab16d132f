"""Reinstall the claim engine with its deferred foreign-key checks after the campaign UPDATE.

Checked before the UPDATE, every concurrent claim KEY SHARE-locked the same campaign row
version and made MultiXacts: pgbench fell from 760 to 227 claims/s. After it, the lock falls
on the claim's own new version. The SQL is sql/0005_claim_coupon.sql, the copy of
campaigns/sql/claim_coupon.sql frozen with this migration; going back reinstalls 0004's.
"""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent / "sql"


def install(apps, schema_editor):
    schema_editor.execute((SQL_DIR / "0005_claim_coupon.sql").read_text(), params=None)


def reinstall_previous(apps, schema_editor):
    schema_editor.execute((SQL_DIR / "0004_claim_coupon.sql").read_text(), params=None)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0004_claim_engine_stable_plans")]

    operations = [migrations.RunPython(install, reinstall_previous)]
