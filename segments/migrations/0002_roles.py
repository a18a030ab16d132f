"""Give the roles of SPEC §7 their segments permissions (the groups come from crm 0002).

Marketers build and change segments; analysts read them. Memberships and size history are
written only by the services (refresh, upload), so every role only reads them.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

READ = ["view_segment", "view_segmentmember", "view_segmentsizesnapshot"]

ROLE_PERMISSIONS = {
    "marketer": ["add_segment", "change_segment", "delete_segment", *READ],
    "analyst": READ,
}


def add_permissions(apps, schema_editor):
    # Model permissions are made by post_migrate, which has not run yet for this app.
    app_config = apps.get_app_config("segments")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0)
    app_config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        group.permissions.add(
            *permission_model.objects.filter(
                content_type__app_label="segments", codename__in=codenames
            )
        )


def remove_permissions(apps, schema_editor):
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        for group in group_model.objects.filter(name=role):
            group.permissions.remove(
                *permission_model.objects.filter(
                    content_type__app_label="segments", codename__in=codenames
                )
            )


class Migration(migrations.Migration):
    dependencies = [
        ("segments", "0001_initial"),
        ("crm", "0002_roles"),
    ]

    operations = [migrations.RunPython(add_permissions, remove_permissions)]
