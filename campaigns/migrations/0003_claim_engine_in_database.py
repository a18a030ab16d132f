"""Install the claim engine's PL/pgSQL functions (campaigns/sql/claim_coupon.sql).

The file is the source of truth; it is written with CREATE OR REPLACE, so a later change to
it ships as a new migration that runs it again. SQLite (the embedded demo database) has no
stored functions: there, campaigns.services.claims refuses claims with a clear message.
"""

from pathlib import Path

from django.db import migrations

SQL_FILE = Path(__file__).resolve().parent.parent / "sql" / "claim_coupon.sql"
DROP = """
DROP FUNCTION IF EXISTS campaigns_claim_coupon(text, text, text, text, text, text, timestamptz,
    date, boolean, bigint, timestamptz, integer, integer);
DROP FUNCTION IF EXISTS campaigns_holdout_draw(bigint, bigint);
DROP FUNCTION IF EXISTS campaigns_iso(timestamptz);
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(SQL_FILE.read_text(), params=None)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0002_roles")]

    operations = [migrations.RunPython(install, uninstall)]
