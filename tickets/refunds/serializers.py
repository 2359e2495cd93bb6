from rest_framework import serializers


class RefundRequestSerializer(serializers.Serializer):
    allow_used = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Refund even though a code was already used at the door.",
    )
