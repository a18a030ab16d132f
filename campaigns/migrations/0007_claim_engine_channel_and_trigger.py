"""Reinstall the claim engine: it refuses a claim through a channel the campaign does not use
(channel_not_in_campaign) or on another trigger (trigger_not_in_campaign), after the city
scope and before the audience (SPEC §4, §5); it compares the city scope trimmed and
case-insensitively; and its details give moments in the operator's time zone, which the
caller passes as a new last argument.

The SQL is sql/0007_claim_coupon.sql, the copy of campaigns/sql/claim_coupon.sql frozen with
this migration. The new argument makes a new function, so the old signature is dropped
first (a second overload would stay callable), with campaigns_iso, which only it used.
Going back drops the new function and reinstalls 0005's.
"""

from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent / "sql"
DROP_0005 = """
DROP FUNCTION IF EXISTS campaigns_claim_coupon(text, text, text, text, text, text, timestamptz,
    date, boolean, bigint, timestamptz, integer, integer);
DROP FUNCTION IF EXISTS campaigns_iso(timestamptz);
"""
DROP_0007 = """
DROP FUNCTION IF EXISTS campaigns_claim_coupon(text, text, text, text, text, text, timestamptz,
    date, boolean, bigint, timestamptz, integer, integer, text);
DROP FUNCTION IF EXISTS campaigns_operator_time(timestamptz, text);
"""


def install(apps, schema_editor):
    schema_editor.execute(DROP_0005, params=None)
    schema_editor.execute((SQL_DIR / "0007_claim_coupon.sql").read_text(), params=None)


def reinstall_previous(apps, schema_editor):
    schema_editor.execute(DROP_0007, params=None)
    schema_editor.execute((SQL_DIR / "0005_claim_coupon.sql").read_text(), params=None)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0006_redemption_live_per_order")]

    operations = [migrations.RunPython(install, reinstall_previous)]
