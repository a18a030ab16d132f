"""The claim engine decides a batch in a fixed number of set-based statements, and a single
claim is a batch of one: a scheduled push made each claim inside PL/pgSQL one by one, ~15
statements, a subtransaction and an UPDATE of the campaign row per customer. The SQL is
sql/0027_claim_coupon.sql, the copy of campaigns/sql/claim_coupon.sql frozen with this
migration; going back reinstalls 0024's."""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent / "sql"
DROP = (
    "DROP FUNCTION IF EXISTS campaigns_claim_batch(text, text[], text[], text[], boolean[], "
    "text, text, timestamptz, date, bigint, timestamptz, integer, integer, text)"
)


def install(apps, schema_editor):
    schema_editor.execute((SQL_DIR / "0027_claim_coupon.sql").read_text(), params=None)


def reinstall_previous(apps, schema_editor):
    schema_editor.execute(DROP)
    schema_editor.execute((SQL_DIR / "0024_claim_coupon.sql").read_text(), params=None)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0026_grant_attributed_at")]

    operations = [migrations.RunPython(install, reinstall_previous)]
