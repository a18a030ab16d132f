"""The claim engine refuses (not_in_audience) a customer outside a member-only campaign's
members or tiers. The SQL is sql/0021_claim_coupon.sql, the copy of
campaigns/sql/claim_coupon.sql frozen with this migration; going back reinstalls 0019's."""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent / "sql"
DROP = (
    "DROP FUNCTION IF EXISTS campaigns_claim_coupon(text, text, text, text, text, text, "
    "timestamptz, date, boolean, bigint, timestamptz, integer, integer, text)"
)


def install(apps, schema_editor):
    schema_editor.execute((SQL_DIR / "0021_claim_coupon.sql").read_text(), params=None)


def reinstall_previous(apps, schema_editor):
    schema_editor.execute(DROP)
    schema_editor.execute((SQL_DIR / "0019_claim_coupon.sql").read_text(), params=None)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0020_member_only_audiences")]

    operations = [migrations.RunPython(install, reinstall_previous)]
