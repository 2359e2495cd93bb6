# WebhookEvent moved here from payments. Its table already exists (created by
# payments.0002 as payments_webhookevent), so this migration only takes the
# model into this app's state, and moves its content type (and so its
# permissions) along with it.

from django.db import migrations, models


def move_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="gateways", model="webhookevent").exists():
        ContentType.objects.filter(app_label="payments", model="webhookevent").update(
            app_label="gateways"
        )


def restore_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="payments", model="webhookevent").exists():
        ContentType.objects.filter(app_label="gateways", model="webhookevent").update(
            app_label="payments"
        )


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("payments", "0002_webhook_event"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="WebhookEvent",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("gateway", models.CharField(max_length=32)),
                        ("event_id", models.CharField(max_length=255)),
                        ("event_type", models.CharField(blank=True, max_length=100)),
                        ("kind", models.CharField(blank=True, max_length=50)),
                        ("object_id", models.CharField(blank=True, max_length=64)),
                        ("payload", models.JSONField()),
                        ("received_at", models.DateTimeField(auto_now_add=True)),
                        ("processed_at", models.DateTimeField(blank=True, null=True)),
                        ("result", models.CharField(blank=True, max_length=200)),
                    ],
                    options={
                        "db_table": "payments_webhookevent",
                        "ordering": ["-received_at"],
                        "indexes": [models.Index(fields=["kind", "object_id"], name="webhook_object_idx")],
                        "constraints": [models.UniqueConstraint(fields=("gateway", "event_id"), name="webhook_event_unique")],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, restore_content_type),
    ]
