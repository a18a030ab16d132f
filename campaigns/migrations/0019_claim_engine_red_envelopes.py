"""The claim engine sets a red envelope's amount per grant: decaying with the customer's
repeated claims of a shared envelope, or drawn in the configured range. The SQL is
sql/0019_claim_coupon.sql, the copy of campaigns/sql/claim_coupon.sql frozen with this
migration; going back reinstalls 0017's."""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent / "sql"
DROP = (
    "DROP FUNCTION IF EXISTS campaigns_claim_coupon(text, text, text, text, text, text, "
    "timestamptz, date, boolean, bigint, timestamptz, integer, integer, text)"
)


def install(apps, schema_editor):
    schema_editor.execute((SQL_DIR / "0019_claim_coupon.sql").read_text(), params=None)


def reinstall_previous(apps, schema_editor):
    schema_editor.execute(DROP)
    schema_editor.execute((SQL_DIR / "0017_claim_coupon.sql").read_text(), params=None)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0018_red_envelopes")]

    operations = [migrations.RunPython(install, reinstall_previous)]
