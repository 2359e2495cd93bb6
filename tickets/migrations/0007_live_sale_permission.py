"""The operator's live view of a sale is a staff capability of its own
(`view_live_sale`). "Support" gets it: it shows counts and links, less than the
debug listing Support already reads."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Support"
CODENAME = "view_live_sale"


def _permission(apps, using: str):
    """Django makes permissions after the last migration (post_migrate): on a fresh
    database this one does not exist yet when this runs, so make it now."""
    config = apps.get_app_config("tickets")
    config.models_module = True
    try:
        create_permissions(config, apps=apps, verbosity=0, using=using)
    finally:
        config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.using(using).get(
        content_type__app_label="tickets", codename=CODENAME
    )


def support_grant(apps, schema_editor):
    using = schema_editor.connection.alias
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.using(using).get_or_create(name=GROUP)
    group.permissions.add(_permission(apps, using))


def support_revoke(apps, schema_editor):
    using = schema_editor.connection.alias
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group in Group.objects.using(using).filter(name=GROUP):
        group.permissions.remove(
            *Permission.objects.using(using).filter(
                content_type__app_label="tickets", codename=CODENAME
            )
        )


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0006_ticket_queue_index"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="ticket",
            options={
                "ordering": ["starts_at", "id"],
                "permissions": [("view_live_sale", "Can watch a ticket's live sale")],
            },
        ),
        migrations.RunPython(support_grant, support_revoke),
    ]
