from rest_framework import serializers

from tickets.models import TicketCode


class RedemptionSerializer(serializers.ModelSerializer):
    """What the door needs to see after a scan: the ticket and who holds it."""

    ticket = serializers.CharField(source="purchase.ticket.name")
    ticket_id = serializers.IntegerField(source="purchase.ticket_id")
    starts_at = serializers.DateTimeField(source="purchase.ticket.starts_at")
    venue = serializers.CharField(source="purchase.ticket.venue")
    purchase_id = serializers.UUIDField(source="purchase.id")
    customer_name = serializers.CharField(source="purchase.customer_name")
    customer_email = serializers.EmailField(source="purchase.customer_email")
    redeemed_by = serializers.CharField(source="redeemed_by.get_username", allow_null=True)

    class Meta:
        model = TicketCode
        fields = [
            "code",
            "status",
            "used_at",
            "redeemed_by",
            "ticket",
            "ticket_id",
            "starts_at",
            "venue",
            "purchase_id",
            "customer_name",
            "customer_email",
        ]
