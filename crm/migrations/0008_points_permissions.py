"""Points ledger permissions (SPEC §7): every role that reads customers reads the ledger;
support staff and marketers adjust balances (the admin's "Adjust points", the API)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLE_PERMISSIONS = {
    "marketer": ["view_pointsentry", "add_pointsentry"],
    "analyst": ["view_pointsentry"],
    "support": ["view_pointsentry", "add_pointsentry"],
}


def add_permissions(apps, schema_editor):
    # Model permissions are made by post_migrate, which has not run yet for this model.
    app_config = apps.get_app_config("crm")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0)
    app_config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        group.permissions.add(
            *permission_model.objects.filter(
                content_type__app_label="crm", codename__in=codenames
            )
        )


def remove_permissions(apps, schema_editor):
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        for group in group_model.objects.filter(name=role):
            group.permissions.remove(
                *permission_model.objects.filter(
                    content_type__app_label="crm", codename__in=codenames
                )
            )


class Migration(migrations.Migration):
    dependencies = [("crm", "0007_points_ledger")]

    operations = [migrations.RunPython(add_permissions, remove_permissions)]
