"""Plans of the claim engine that stay right as the claim tables grow.

- Drop the foreign-key indexes that other indexes already start with. On a small table the
  engine's cached plans picked them (the smallest index) and kept filtering a campaign's
  grants, or a customer's coupons by status, as the tables grew: 10.8 ms per claim after
  16,000 grants instead of 1.2 ms (closing note of issue 4, stop 7).
- Reinstall the claim engine from sql/0004_claim_coupon.sql, the copy of
  campaigns/sql/claim_coupon.sql frozen with this migration (look-ups planned per call,
  foreign keys checked inside the function).
"""

from pathlib import Path

import django.db.models.deletion
from django.db import migrations, models

SQL_FILE = Path(__file__).resolve().parent / "sql" / "0004_claim_coupon.sql"


def install(apps, schema_editor):
    schema_editor.execute(SQL_FILE.read_text(), params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0003_claim_engine_in_database"),
        ("crm", "0003_alter_customer_usual_daypart"),
    ]

    operations = [
        migrations.AlterField(
            model_name="coupon",
            name="customer",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="coupons",
                to="crm.customer",
            ),
        ),
        migrations.AlterField(
            model_name="couponevent",
            name="campaign",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="events",
                to="campaigns.campaign",
            ),
        ),
        migrations.AlterField(
            model_name="couponevent",
            name="customer",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="crm.customer",
            ),
        ),
        migrations.AlterField(
            model_name="customercampaigncounter",
            name="campaign",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="campaigns.campaign",
            ),
        ),
        migrations.AlterField(
            model_name="grant",
            name="campaign",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="grants",
                to="campaigns.campaign",
            ),
        ),
        migrations.RunPython(install, migrations.RunPython.noop),
    ]
