"""Create the roles of SPEC §7 as groups with their model permissions.

Model permissions are created by a post_migrate signal, which has not run yet inside this
migration, so they are created here first (the documented pattern for data migrations).
Later apps (segments, campaigns, analytics) add their permissions to these groups in their
own migrations.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLE_PERMISSIONS = {
    "marketer": [
        ("crm", "view_customer"), ("crm", "view_order"), ("crm", "view_orderitem"),
        ("crm", "view_behaviourevent"), ("crm", "view_identity"), ("crm", "view_tag"),
        ("crm", "add_tag"), ("crm", "view_channel"), ("crm", "view_stagechange"),
        ("crm", "view_lifecyclesettings"), ("core", "view_job"), ("core", "add_job"),
    ],
    "analyst": [
        ("crm", "view_customer"), ("crm", "view_order"), ("crm", "view_orderitem"),
        ("crm", "view_behaviourevent"), ("crm", "view_tag"), ("crm", "view_channel"),
        ("crm", "view_stagechange"), ("core", "view_job"),
    ],
    "support": [
        ("crm", "view_customer"), ("crm", "change_customer"), ("crm", "view_customer_pii"),
        ("crm", "view_identity"), ("crm", "view_order"), ("crm", "view_orderitem"),
        ("crm", "view_behaviourevent"), ("crm", "view_stagechange"), ("crm", "view_tag"),
        ("crm", "view_channel"), ("core", "view_auditentry"),
    ],
    "integration": [],
}


def create_roles(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role, permissions in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        for app_label, codename in permissions:
            group.permissions.add(
                permission_model.objects.get(content_type__app_label=app_label, codename=codename)
            )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0001_initial"),
        ("core", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
