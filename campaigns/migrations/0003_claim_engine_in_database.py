"""Install the claim engine's PL/pgSQL functions (campaigns/sql/claim_coupon.sql).

The file is the source of truth; it is written with CREATE OR REPLACE, so a later change to
it ships as a new migration that runs it again. SQLite (the embedded demo database) has no
stored functions: there, campaigns.services.claims refuses claims with a clear message.
"""

from django.db import migrations

from campaigns.sql import install_claim_engine
DROP = """
DROP FUNCTION IF EXISTS campaigns_claim_coupon(text, text, text, text, text, text, timestamptz,
    date, boolean, bigint, timestamptz, integer, integer);
DROP FUNCTION IF EXISTS campaigns_holdout_draw(bigint, bigint);
DROP FUNCTION IF EXISTS campaigns_iso(timestamptz);
"""


def install(apps, schema_editor):
    install_claim_engine(schema_editor)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0002_roles")]

    operations = [migrations.RunPython(install, uninstall)]
