"""The waiting list's staff capabilities: sending an offer by hand
(`offer_waiting_list`) and pausing a ticket's automatic offers
(`pause_waiting_list`), each its own permission. "Support" gets both, and may
read the entries (`view_waitinglistentry`): an offer by hand gives free seats to
the next in line and a pause sends freed seats to open sale; neither moves money.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Support"
CODENAMES = ["view_waitinglistentry", "offer_waiting_list", "pause_waiting_list"]


def _permissions(apps, using: str):
    """Django makes permissions after the last migration (post_migrate): on a fresh
    database these do not exist yet when this runs, so make them now."""
    config = apps.get_app_config("tickets")
    config.models_module = True
    try:
        create_permissions(config, apps=apps, verbosity=0, using=using)
    finally:
        config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.using(using).filter(
        content_type__app_label="tickets", codename__in=CODENAMES
    )


def support_grant(apps, schema_editor):
    using = schema_editor.connection.alias
    granted = list(_permissions(apps, using))
    if len(granted) != len(CODENAMES):
        missing = set(CODENAMES) - {permission.codename for permission in granted}
        raise RuntimeError(f"no such permissions {sorted(missing)}")
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.using(using).get_or_create(name=GROUP)
    group.permissions.add(*granted)


def support_revoke(apps, schema_editor):
    using = schema_editor.connection.alias
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    revoked = Permission.objects.using(using).filter(
        content_type__app_label="tickets", codename__in=CODENAMES
    )
    for group in Group.objects.using(using).filter(name=GROUP):
        group.permissions.remove(*revoked)


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0008_waiting_list"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="waitinglistentry",
            options={
                "ordering": ["created_at"],
                "permissions": [
                    ("offer_waiting_list", "Can send waiting-list offers by hand"),
                    ("pause_waiting_list", "Can pause and resume a ticket's waiting-list offers"),
                ],
                "verbose_name_plural": "waiting list entries",
            },
        ),
        migrations.RunPython(support_grant, support_revoke),
    ]
