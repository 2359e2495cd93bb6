"""Each staff capability is its own permission, and two groups are made of them.

"Door staff" may check codes in at the door and nothing else. "Support" may read
purchases, tickets, codes and their audit trail, read the debug listing, resend
tickets and re-run processing; it may not refund: a refund moves money back, and
stays with whoever is given `refund_ticketpurchase` on purpose (a manager, or a
group of their own).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = {
    "Door staff": ["redeem_ticketcode"],
    "Support": [
        "view_ticket",
        "view_ticketpurchase",
        "view_ticketcode",
        "view_purchaseevent",
        "view_purchase_debug",
        "resend_tickets",
        "rerun_processing",
    ],
}


def _tickets_permissions(apps, using: str):
    """Django makes permissions after the last migration (post_migrate): on a fresh
    database there are none yet when this runs, so make this app's now."""
    config = apps.get_app_config("tickets")
    config.models_module = True
    try:
        create_permissions(config, apps=apps, verbosity=0, using=using)
    finally:
        config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.using(using).filter(content_type__app_label="tickets")


def groups_create(apps, schema_editor):
    using = schema_editor.connection.alias
    permissions = _tickets_permissions(apps, using)
    Group = apps.get_model("auth", "Group")
    for name, codenames in GROUPS.items():
        granted = list(permissions.filter(codename__in=codenames))
        if len(granted) != len(codenames):
            missing = set(codenames) - {permission.codename for permission in granted}
            raise RuntimeError(f"group {name!r}: no such permissions {sorted(missing)}")
        group, _ = Group.objects.using(using).get_or_create(name=name)
        group.permissions.add(*granted)


def groups_delete(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0004_holds_and_audit_trail"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="ticketpurchase",
            options={
                "ordering": ["-created_at"],
                "permissions": [
                    ("redeem_ticketcode", "Can check in ticket codes at the door"),
                    ("refund_ticketpurchase", "Can refund ticket purchases"),
                    ("view_purchase_debug", "Can read the purchases debug listing"),
                    ("resend_tickets", "Can resend tickets by e-mail"),
                    ("rerun_processing", "Can re-run processing of purchases"),
                ],
            },
        ),
        migrations.RunPython(groups_create, groups_delete),
    ]
