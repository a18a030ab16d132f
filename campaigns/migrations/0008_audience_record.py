"""The audience record (SPEC §4): AudienceMember, written when a campaign starts running,
and the claim engine reinstalled to add a customer who joined the segment later at their
claim. The SQL is sql/0008_claim_coupon.sql, the copy of campaigns/sql/claim_coupon.sql
frozen with this migration (the signature is unchanged, so it replaces 0007's); going back
reinstalls 0007's before the table goes.
"""

from pathlib import Path

import django.db.models.deletion
from django.db import migrations, models

SQL_DIR = Path(__file__).resolve().parent / "sql"


def install(apps, schema_editor):
    schema_editor.execute((SQL_DIR / "0008_claim_coupon.sql").read_text(), params=None)


def reinstall_previous(apps, schema_editor):
    schema_editor.execute((SQL_DIR / "0007_claim_coupon.sql").read_text(), params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0007_claim_engine_channel_and_trigger"),
        ("crm", "0004_refused_import_rows"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaign",
            name="audience_recorded_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.CreateModel(
            name="AudienceMember",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("treated", models.BooleanField(help_text="False: in the holdout group.")),
                ("joined_at", models.DateTimeField()),
                ("at_start", models.BooleanField()),
                (
                    "campaign",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="audience",
                        to="campaigns.campaign",
                    ),
                ),
                (
                    "customer",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="crm.customer",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("campaign", "customer"), name="audience_member_once_per_campaign"
                    )
                ],
            },
        ),
        migrations.RunPython(install, reinstall_previous),
    ]
