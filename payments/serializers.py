from rest_framework import serializers

from gateways import payment_method_accepted
from payments.models import Booking, Destination, Payment


class StrictIntegerField(serializers.IntegerField):
    """An integer that is a JSON integer: "2", 2.0 and true are refused."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class DestinationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Destination
        fields = ["id", "name", "country", "region", "description", "price_per_guest", "currency"]


class BookingCreateSerializer(serializers.Serializer):
    """The client's side of a booking. A total or price it sends is ignored:
    unknown fields are dropped and the service prices the booking."""

    destination_id = StrictIntegerField(min_value=1)
    customer_name = serializers.CharField(max_length=120, trim_whitespace=True)
    customer_email = serializers.EmailField(max_length=254)
    travel_date = serializers.DateField()
    guests = StrictIntegerField(min_value=1, max_value=Booking.MAX_GUESTS)
    payment_method = serializers.ChoiceField(choices=Payment.Method.choices)
    payment_token = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )

    def validate_payment_method(self, value: str) -> str:
        if not payment_method_accepted(value):
            raise serializers.ValidationError(
                f'"{value}" cannot be paid through the payment gateway in use: pay by card.'
            )
        return value


class BookingStatusSerializer(serializers.Serializer):
    booking_id = serializers.UUIDField()
    status = serializers.CharField()
    payment_status = serializers.CharField()
    failure_reason = serializers.CharField(allow_null=True)
    updated_at = serializers.DateTimeField()


class PaymentSerializer(serializers.ModelSerializer):
    payment_id = serializers.UUIDField(source="id")

    class Meta:
        model = Payment
        fields = [
            "payment_id",
            "status",
            "method",
            "amount",
            "currency",
            "gateway_reference",
            "processing_started_at",
            "completed_at",
        ]


class BookingDetailSerializer(serializers.ModelSerializer):
    booking_id = serializers.UUIDField(source="id")
    destination = serializers.CharField(source="destination.name")
    payment_status = serializers.CharField(source="payment.status")
    payment = PaymentSerializer()

    class Meta:
        model = Booking
        fields = [
            "booking_id",
            "destination",
            "destination_id",
            "customer_name",
            "customer_email",
            "travel_date",
            "guests",
            "total_amount",
            "currency",
            "status",
            "payment_status",
            "failure_reason",
            "payment",
            "created_at",
            "updated_at",
        ]
