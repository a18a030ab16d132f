"""The claim engine issues a partner's coupons as pending (their code comes from the
partner's platform), counts pending coupons in the anti-harassment rules, and answers each
coupon's partner_code. The SQL is sql/0017_claim_coupon.sql, the copy of
campaigns/sql/claim_coupon.sql frozen with this migration; going back reinstalls 0014's
(the answer's columns differ, so the function is dropped first)."""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent / "sql"
DROP = (
    "DROP FUNCTION IF EXISTS campaigns_claim_coupon(text, text, text, text, text, text, "
    "timestamptz, date, boolean, bigint, timestamptz, integer, integer, text)"
)


def install(apps, schema_editor):
    schema_editor.execute((SQL_DIR / "0017_claim_coupon.sql").read_text(), params=None)


def reinstall_previous(apps, schema_editor):
    schema_editor.execute(DROP)
    schema_editor.execute((SQL_DIR / "0014_claim_coupon.sql").read_text(), params=None)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0016_partner_codes")]

    operations = [migrations.RunPython(install, reinstall_previous)]
