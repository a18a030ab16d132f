"""Redemptions: uniqueness only among live ones; the refund's look-up by order_id indexed.

unique (coupon, order_id) also held over reversed redemptions, so redeeming a coupon a
refund restored on the same order again was a 500. redemption_one_live_per_coupon, kept,
already makes the live redemption of a (code, order) unique: what idempotency needs.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0005_claim_engine_key_checks_after_update'),
        ('crm', '0003_alter_customer_usual_daypart'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='redemption',
            name='redemption_per_order',
        ),
        migrations.AddIndex(
            model_name='redemption',
            index=models.Index(fields=['order_id'], name='redemption_order_id'),
        ),
    ]
