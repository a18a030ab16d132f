"""The claim engine looks a batch's keys up by the unique (campaign, idempotency_key) index
whatever the statistics say of the campaign: with statistics older than the campaign, the
(campaign, granted_at) index looked as good and was chosen, filtering every grant of the
campaign for each key. A shared red envelope's decay becomes campaigns_shared_envelope_amount,
which the share page reads too. The SQL is sql/0029_claim_coupon.sql, the copy of
campaigns/sql/claim_coupon.sql frozen with this migration; going back reinstalls 0027's."""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent / "sql"


def install(apps, schema_editor):
    schema_editor.execute((SQL_DIR / "0029_claim_coupon.sql").read_text(), params=None)


def reinstall_previous(apps, schema_editor):
    schema_editor.execute((SQL_DIR / "0027_claim_coupon.sql").read_text(), params=None)
    schema_editor.execute(
        "DROP FUNCTION campaigns_shared_envelope_amount(numeric, numeric, numeric, integer)"
    )


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0028_message_customer_channel_index")]

    operations = [migrations.RunPython(install, reinstall_previous)]
