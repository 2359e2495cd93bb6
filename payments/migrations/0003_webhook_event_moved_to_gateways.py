# WebhookEvent now belongs to the gateways app (gateways.0001 takes it over).
# The table stays where it is: only the state of this app changes.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0002_webhook_event"),
        ("gateways", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="WebhookEvent")],
            database_operations=[],
        ),
    ]
