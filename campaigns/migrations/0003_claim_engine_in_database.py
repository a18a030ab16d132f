"""Install the claim engine's PL/pgSQL functions.

The SQL is sql/0003_claim_coupon.sql, the copy of campaigns/sql/claim_coupon.sql frozen
with this migration: a fresh database replays the engine this schema step was written for,
whatever the live file holds today (the rule is in campaigns/sql/__init__.py).
"""

from pathlib import Path

from django.db import migrations

SQL_FILE = Path(__file__).resolve().parent / "sql" / "0003_claim_coupon.sql"
DROP = """
DROP FUNCTION IF EXISTS campaigns_claim_coupon(text, text, text, text, text, text, timestamptz,
    date, boolean, bigint, timestamptz, integer, integer);
DROP FUNCTION IF EXISTS campaigns_holdout_draw(bigint, bigint);
DROP FUNCTION IF EXISTS campaigns_iso(timestamptz);
"""


def install(apps, schema_editor):
    schema_editor.execute(SQL_FILE.read_text(), params=None)


def uninstall(apps, schema_editor):
    schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0002_roles")]

    operations = [migrations.RunPython(install, uninstall)]
