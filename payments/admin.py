from django.contrib import admin

from payments import services
from payments.models import Booking, Destination, Payment
from project.admin_actions import run_service_on_each


@admin.register(Destination)
class DestinationAdmin(admin.ModelAdmin):
    list_display = ("name", "country", "region", "price_per_guest", "currency", "is_active")
    list_filter = ("is_active", "country", "currency")
    search_fields = ("name", "country", "region")


class PaymentInline(admin.StackedInline):
    model = Payment
    fields = ("id", "status", "method", "amount", "currency", "gateway_reference", "completed_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Booking)
class BookingAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "status",
        "destination",
        "customer_name",
        "customer_email",
        "travel_date",
        "guests",
        "total_amount",
        "currency",
        "created_at",
    )
    list_filter = ("status", "destination")
    search_fields = ("id", "customer_name", "customer_email")
    list_select_related = ("destination",)
    date_hierarchy = "created_at"
    inlines = [PaymentInline]
    readonly_fields = [field.name for field in Booking._meta.fields]

    def has_add_permission(self, request) -> bool:
        # Bookings are made through the API, which prices them and creates the payment.
        return False


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    """Destination payments only: ticket purchases keep their payment on the purchase."""

    list_display = (
        "id",
        "status",
        "amount",
        "currency",
        "method",
        "customer",
        "destination",
        "gateway_reference",
        "created_at",
    )
    list_filter = ("status", "method")
    search_fields = ("id", "gateway_reference", "booking__customer_email")
    list_select_related = ("booking", "booking__destination")
    date_hierarchy = "created_at"
    actions = ["reconcile", "refund"]
    readonly_fields = [field.name for field in Payment._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="customer", ordering="booking__customer_name")
    def customer(self, payment: Payment) -> str:
        return f"{payment.booking.customer_name} <{payment.booking.customer_email}>"

    @admin.display(description="destination", ordering="booking__destination__name")
    def destination(self, payment: Payment) -> str:
        return payment.booking.destination.name

    @admin.action(description="Reconcile selected payments with the gateway")
    def reconcile(self, request, queryset):
        run_service_on_each(
            self,
            request,
            queryset,
            services.payment_reconcile,
            id_argument="payment_id",
            done="reconciled",
        )

    @admin.action(description="Refund selected payments")
    def refund(self, request, queryset):
        run_service_on_each(
            self,
            request,
            queryset,
            services.payment_refund,
            id_argument="payment_id",
            done="refunded",
        )
