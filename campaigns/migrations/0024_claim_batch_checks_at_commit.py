"""The claim engine's batch entry checks the batch's foreign keys once, at its commit: a
single claim checks its own at once (campaigns_claim_coupon's p_check_now, TRUE by default);
in a batch that rescanned every earlier claim's trigger events, 16 ms a claim at 5,000 per
batch. The SQL is sql/0024_claim_coupon.sql, the copy of campaigns/sql/claim_coupon.sql
frozen with this migration; going back reinstalls 0021's."""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent / "sql"
DROP = (
    "DROP FUNCTION IF EXISTS campaigns_claim_coupon(text, text, text, text, text, text, "
    "timestamptz, date, boolean, bigint, timestamptz, integer, integer, text, boolean)"
)


def install(apps, schema_editor):
    schema_editor.execute((SQL_DIR / "0024_claim_coupon.sql").read_text(), params=None)


def reinstall_previous(apps, schema_editor):
    schema_editor.execute(DROP)
    schema_editor.execute((SQL_DIR / "0021_claim_coupon.sql").read_text(), params=None)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0023_envelope_distribution_choices")]

    operations = [migrations.RunPython(install, reinstall_previous)]
