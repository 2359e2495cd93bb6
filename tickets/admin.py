from django.contrib import admin

from project.admin_actions import run_service_on_each
from tickets import services
from tickets.models import Ticket, TicketCode, TicketPurchase


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "venue",
        "starts_at",
        "price",
        "currency",
        "available_quantity",
        "total_quantity",
        "is_on_sale",
    )
    list_filter = ("is_on_sale", "currency")
    search_fields = ("name", "venue", "destination_name")


class TicketCodeInline(admin.TabularInline):
    model = TicketCode
    fields = ("code", "status", "used_at", "redeemed_by")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(TicketPurchase)
class TicketPurchaseAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "status",
        "payment_status",
        "customer_name",
        "customer_email",
        "ticket",
        "quantity",
        "total_amount",
        "currency",
        "created_at",
    )
    list_filter = ("status", "payment_status", "payment_method", "refund_reason", "ticket")
    search_fields = ("id", "customer_name", "customer_email", "codes__code")
    list_select_related = ("ticket",)
    date_hierarchy = "created_at"
    inlines = [TicketCodeInline]
    actions = ["rerun_processing", "mark_refunded", "resend_tickets"]
    readonly_fields = [field.name for field in TicketPurchase._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Re-run processing of selected purchases")
    def rerun_processing(self, request, queryset):
        run_service_on_each(
            self,
            request,
            queryset,
            services.purchase_retry_processing,
            id_argument="purchase_id",
            done="re-enqueued",
        )

    @admin.action(description="Refund selected purchases")
    def mark_refunded(self, request, queryset):
        run_service_on_each(
            self,
            request,
            queryset,
            services.purchase_refund,
            id_argument="purchase_id",
            done="refunded",
        )

    @admin.action(description="Resend tickets by e-mail")
    def resend_tickets(self, request, queryset):
        run_service_on_each(
            self,
            request,
            queryset,
            services.purchase_resend_tickets,
            id_argument="purchase_id",
            done="sent again",
        )
