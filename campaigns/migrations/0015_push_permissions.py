"""Let every role read pushes and messages (SPEC §4, §7): support staff answer "did this
customer get the message?" in the admin (sent, suppressed for no consent, deferred)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEWS = ["view_deliveryrun", "view_deliverybatch", "view_message"]
ROLE_PERMISSIONS = {"marketer": VIEWS, "analyst": VIEWS, "support": VIEWS}


def add_permissions(apps, schema_editor):
    # Model permissions are made by post_migrate, which has not run yet for this model.
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
    dependencies = [("campaigns", "0014_claim_batch_entry")]

    operations = [migrations.RunPython(add_permissions, remove_permissions)]
