from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0004_booking_audit_trail"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="payment",
            options={
                "ordering": ["-created_at"],
                "permissions": [("refund_payment", "Can refund destination payments")],
            },
        ),
    ]
