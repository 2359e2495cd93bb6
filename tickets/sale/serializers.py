from django.conf import settings
from rest_framework import serializers

from gateways import payment_method_accepted
from tickets.models import Ticket, TicketPurchase
from tickets.sale.bodies import client_secret
from tickets.sale.validation import METHOD_NOT_ACCEPTED


class StrictIntegerField(serializers.IntegerField):
    """An integer that is a JSON integer: "2", 2.0 and true are refused."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class TicketSerializer(serializers.ModelSerializer):
    class Meta:
        model = Ticket
        fields = [
            "id",
            "name",
            "description",
            "venue",
            "destination_name",
            "starts_at",
            "price",
            "currency",
            "total_quantity",
            "available_quantity",
        ]


class PurchaseCreateSerializer(serializers.Serializer):
    """The create body as the OpenAPI schema shows it. Requests are validated by
    tickets/accept.py by these same rules, with these same messages, without
    the serializer machinery (tests/tickets/test_accept.py keeps the two equal)."""

    ticket_id = StrictIntegerField(min_value=1)
    quantity = StrictIntegerField(min_value=1)
    customer_name = serializers.CharField(max_length=120, trim_whitespace=True)
    customer_email = serializers.EmailField(max_length=254)
    customer_phone = serializers.CharField(
        max_length=32, required=False, allow_blank=True, default=""
    )
    payment_method = serializers.ChoiceField(choices=TicketPurchase.PaymentMethod.choices)
    payment_token = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )

    def validate_payment_method(self, value: str) -> str:
        if not payment_method_accepted(value):
            raise serializers.ValidationError(METHOD_NOT_ACCEPTED.format(method=value))
        return value

    def validate_quantity(self, value: int) -> int:
        limit = settings.MAX_TICKETS_PER_PURCHASE
        if value > limit:
            raise serializers.ValidationError(
                f"Ensure this value is less than or equal to {limit}."
            )
        return value


class PaymentSubmitSerializer(serializers.Serializer):
    payment_token = serializers.CharField(max_length=200)


class SimulatePaymentSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=["success", "failure"])


CLIENT_SECRET_HELP = (
    "While payment_status is requires_action: the PaymentIntent's client secret,"
    " for Stripe.js to authenticate the payment (3-D Secure) in the buyer's"
    " browser; null otherwise. Only for the holder of the purchase id."
)


class PurchaseStatusSerializer(serializers.Serializer):
    purchase_id = serializers.UUIDField(source="id")
    status = serializers.CharField()
    payment_status = serializers.CharField()
    failure_reason = serializers.CharField(allow_null=True)
    updated_at = serializers.DateTimeField()
    queue_position = serializers.IntegerField(
        allow_null=True,
        min_value=0,
        help_text=(
            "The waiting room: how many purchases of the same ticket were accepted"
            " before this one and are not yet decided (0: it is being decided now)."
            " null once decided (seats reserved, or final)."
        ),
    )
    estimated_wait_seconds = serializers.IntegerField(
        allow_null=True,
        min_value=0,
        help_text=(
            "When this purchase should be decided, from the ticket's measured drain"
            " rate; null once decided, or while no rate has been measured yet."
        ),
    )
    waiting_list = serializers.URLField(
        allow_null=True,
        help_text=(
            "Failed as sold out: where to join the ticket's waiting list"
            " (POST name, e-mail, quantity); null otherwise."
        ),
    )
    client_secret = serializers.CharField(
        allow_null=True,
        help_text=CLIENT_SECRET_HELP,
    )


class PurchaseDetailSerializer(serializers.ModelSerializer):
    purchase_id = serializers.UUIDField(source="id")
    ticket = serializers.CharField(source="ticket.name")
    ticket_codes = serializers.SerializerMethodField()

    class Meta:
        model = TicketPurchase
        fields = [
            "purchase_id",
            "ticket",
            "ticket_id",
            "customer_name",
            "customer_email",
            "customer_phone",
            "quantity",
            "unit_price",
            "total_amount",
            "currency",
            "payment_method",
            "status",
            "payment_status",
            "failure_reason",
            "ticket_codes",
            "created_at",
            "updated_at",
            "confirmed_at",
            "completed_at",
            "hold_expires_at",
        ]

    def get_ticket_codes(self, purchase: TicketPurchase) -> list[str]:
        # Codes are issued on confirmation: skip the query for a purchase that never was.
        if purchase.confirmed_at is None:
            return []
        return [code.code for code in purchase.codes.all()]


class PurchaseHolderDetailSerializer(PurchaseDetailSerializer):
    """The detail as the holder of the purchase id reads it: with the secret
    that authenticates a payment waiting for the buyer (not in staff listings)."""

    client_secret = serializers.SerializerMethodField(help_text=CLIENT_SECRET_HELP)

    class Meta(PurchaseDetailSerializer.Meta):
        fields = [*PurchaseDetailSerializer.Meta.fields, "client_secret"]

    def get_client_secret(self, purchase: TicketPurchase) -> str | None:
        return client_secret(
            {
                "payment_status": purchase.payment_status,
                "payment_client_secret": purchase.payment_client_secret,
            }
        )


class PurchasesDebugSerializer(serializers.Serializer):
    counts = serializers.DictField(child=serializers.IntegerField())
    stuck_in_payment = serializers.ListField(child=serializers.UUIDField())
    never_started = serializers.ListField(child=serializers.UUIDField())
    recent = PurchaseDetailSerializer(many=True)
