from django.contrib import admin

from payments import refunds, services
from payments.models import Booking, BookingEvent, Destination, Payment
from project.admin_actions import run_service_on_each
from project.admin_inlines import AuditTrailInline


@admin.register(Destination)
class DestinationAdmin(admin.ModelAdmin):
    list_display = ("name", "country", "region", "price_per_guest", "currency", "is_active")
    list_filter = ("is_active", "country", "currency")
    search_fields = ("name", "country", "region")


# A payment that took (or may be taking) money is a financial record: never deleted.
UNPAID_STATUSES = (Payment.Status.PENDING, Payment.Status.FAILED)


def _unpaid(payment: Payment | None) -> bool:
    return payment is not None and payment.status in UNPAID_STATUSES


class PaidRecordsKept:
    """Deleting is allowed one unpaid record at a time (never in bulk, which
    would not ask record by record)."""

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


class PaymentInline(admin.StackedInline):
    model = Payment
    fields = ("id", "status", "method", "amount", "currency", "gateway_reference", "completed_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class BookingAuditTrailInline(AuditTrailInline):
    model = BookingEvent


@admin.register(Booking)
class BookingAdmin(PaidRecordsKept, admin.ModelAdmin):
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
    inlines = [PaymentInline, BookingAuditTrailInline]
    readonly_fields = [field.name for field in Booking._meta.fields]

    def has_add_permission(self, request) -> bool:
        # Bookings are made through the API, which prices them and creates the payment.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        if obj is None:
            return allowed
        return allowed and _unpaid(Payment.objects.filter(booking=obj).first())


@admin.register(Payment)
class PaymentAdmin(PaidRecordsKept, admin.ModelAdmin):
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

    def has_delete_permission(self, request, obj=None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed if obj is None else allowed and _unpaid(obj)

    def has_refund_permission(self, request) -> bool:
        # Refunding is its own permission (Payment.Meta.permissions): is_staff grants none.
        return request.user.has_perm("payments.refund_payment")

    @admin.display(description="customer", ordering="booking__customer_name")
    def customer(self, payment: Payment) -> str:
        return f"{payment.booking.customer_name} <{payment.booking.customer_email}>"

    @admin.display(description="destination", ordering="booking__destination__name")
    def destination(self, payment: Payment) -> str:
        return payment.booking.destination.name

    # Settling a payment with the gateway's answer changes it: for those who may change payments.
    @admin.action(
        description="Reconcile selected payments with the gateway", permissions=["change"]
    )
    def reconcile(self, request, queryset):
        run_service_on_each(
            self,
            request,
            queryset,
            services.payment_reconcile,
            id_argument="payment_id",
            done="reconciled",
        )

    @admin.action(description="Refund selected payments", permissions=["refund"])
    def refund(self, request, queryset):
        run_service_on_each(
            self,
            request,
            queryset,
            refunds.payment_refund,
            id_argument="payment_id",
            done="refunded",
        )
