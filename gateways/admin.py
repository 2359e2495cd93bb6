from django.contrib import admin

from gateways.models import StripeCharge, StripeRefund, WebhookEvent


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    """Gateway callbacks as received: read-only, for tracing what the gateway said."""

    list_display = (
        "event_id",
        "gateway",
        "event_type",
        "kind",
        "object_id",
        "received_at",
        "processed_at",
        "result",
    )
    list_filter = ("gateway", "kind", "event_type")
    search_fields = ("event_id", "object_id")
    readonly_fields = [field.name for field in WebhookEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(StripeCharge)
class StripeChargeAdmin(_ReadOnly):
    """Which PaymentIntent was made for which payment key: search a purchase's or
    booking's id to find its intent in Stripe's dashboard."""

    list_display = ("key", "intent_id", "created_at")
    search_fields = ("key", "intent_id")
    readonly_fields = ("key", "intent_id", "created_at")


@admin.register(StripeRefund)
class StripeRefundAdmin(_ReadOnly):
    """Stripe refunds by their idempotency key, and whether Stripe said the money is back."""

    list_display = ("key", "refund_id", "charge_key", "settled", "created_at")
    list_filter = ("settled",)
    search_fields = ("key", "refund_id", "charge_key")
    readonly_fields = ("key", "refund_id", "charge_key", "settled", "created_at")
