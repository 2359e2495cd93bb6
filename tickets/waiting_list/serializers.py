"""The waiting list's request and response shapes (tickets/waiting_list/api.py)."""

from django.conf import settings
from django.urls import reverse
from rest_framework import serializers

from tickets.models import TicketPurchase, WaitingListEntry
from tickets.sale.serializers import StrictIntegerField


class WaitingListJoinSerializer(serializers.Serializer):
    customer_name = serializers.CharField(max_length=120)
    customer_email = serializers.EmailField(max_length=254)
    quantity = StrictIntegerField(min_value=1, max_value=settings.MAX_TICKETS_PER_PURCHASE)


class OfferTakeSerializer(serializers.Serializer):
    payment_method = serializers.ChoiceField(
        choices=TicketPurchase.PaymentMethod.choices, default=TicketPurchase.PaymentMethod.CARD
    )
    payment_token = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="Without one the seats stay held until the offer ends; pay through complete/.",
    )
    customer_phone = serializers.CharField(
        max_length=32, required=False, allow_blank=True, default=""
    )


class WaitingListEntrySerializer(serializers.ModelSerializer):
    entry_id = serializers.UUIDField(source="id", read_only=True)
    position = serializers.SerializerMethodField(
        help_text=(
            "1 for the first in line; null while the entry is not in line"
            " (unconfirmed, or no longer waiting)."
        )
    )
    purchase_id = serializers.UUIDField(read_only=True, allow_null=True)
    links = serializers.SerializerMethodField()

    class Meta:
        model = WaitingListEntry
        fields = [
            "entry_id",
            "ticket_id",
            "customer_name",
            "customer_email",
            "quantity",
            "state",
            "position",
            "offered_at",
            "offer_expires_at",
            "purchase_id",
            "created_at",
            "confirmed_at",
            "links",
        ]

    def get_position(self, entry) -> int | None:
        return self.context.get("position")

    def get_links(self, entry) -> dict[str, str]:
        args = [entry.pk]
        return {
            "self": reverse("waiting-list-entry", args=args),
            "confirm": reverse("waiting-list-confirm", args=args),
            "purchase": reverse("waiting-list-purchase", args=args),
            "decline": reverse("waiting-list-decline", args=args),
            "leave": reverse("waiting-list-leave", args=args),
        }


class WaitingListJoinAcceptedSerializer(serializers.Serializer):
    """A join's answer, the same whatever the address's state: the entry and its
    link go to the address by e-mail, never to the caller."""

    detail = serializers.CharField()
