from django.contrib import admin

from gateways.models import WebhookEvent


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
