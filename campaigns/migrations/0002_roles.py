"""Give the roles of SPEC §7 their campaigns permissions (the groups come from crm 0002).

Marketers configure templates and campaigns; analysts read; support staff read coupons and
their history in the admin and may change coupons, which is what the revoke and reissue
actions require (the admin never edits a coupon field by field).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

LEDGER = ["view_coupon", "view_grant", "view_couponevent", "view_redemption"]

ROLE_PERMISSIONS = {
    "marketer": [
        "add_campaign", "change_campaign", "view_campaign", "view_campaignresource",
        "add_coupontemplate", "change_coupontemplate", "view_coupontemplate",
        "view_harassmentsettings", "change_harassmentsettings", *LEDGER,
    ],
    "analyst": [
        "view_campaign", "view_campaignresource", "view_coupontemplate",
        "view_harassmentsettings", *LEDGER,
    ],
    "support": [
        "view_campaign", "view_coupontemplate", "view_harassmentsettings", "change_coupon",
        *LEDGER,
    ],
}


def add_permissions(apps, schema_editor):
    # Model permissions are made by post_migrate, which has not run yet for this app.
    app_config = apps.get_app_config("campaigns")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0)
    app_config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        group.permissions.add(
            *permission_model.objects.filter(
                content_type__app_label="campaigns", codename__in=codenames
            )
        )


def remove_permissions(apps, schema_editor):
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        for group in group_model.objects.filter(name=role):
            group.permissions.remove(
                *permission_model.objects.filter(
                    content_type__app_label="campaigns", codename__in=codenames
                )
            )


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0001_initial"),
        ("crm", "0002_roles"),
    ]

    operations = [migrations.RunPython(add_permissions, remove_permissions)]
