"""The claim engine's batch entry for scheduled pushes (campaigns_claim_batch): the claims of
a batch of customers in one statement, each decided by campaigns_claim_coupon. The SQL is
sql/0014_claim_coupon.sql, the copy of campaigns/sql/claim_coupon.sql frozen with this
migration; going back drops the batch entry (the single-claim function is unchanged).
"""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent / "sql"


def install(apps, schema_editor):
    schema_editor.execute((SQL_DIR / "0014_claim_coupon.sql").read_text(), params=None)


def drop(apps, schema_editor):
    schema_editor.execute(
        "DROP FUNCTION IF EXISTS campaigns_claim_batch(text, text[], text[], text[], boolean[], "
        "text, text, timestamptz, date, bigint, timestamptz, integer, integer, text)"
    )


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0013_push_deliveries")]

    operations = [migrations.RunPython(install, drop)]
