"""The refunds' piece of the purchase admin: finding refunds that need a look."""

from django.contrib import admin
from django.db.models import Exists, OuterRef

from tickets.models import PurchaseEvent, TicketPurchase
from tickets.refunds.services import REFUND_UNDONE


class RefundListFilter(admin.SimpleListFilter):
    """Pending: the gateway has not said yet (the sweep keeps asking). Failed: the
    gateway definitely did not refund, so the purchase was paid again."""

    title = "refund"
    parameter_name = "refund"

    def lookups(self, request, model_admin):
        return [("pending", "Pending at the gateway"), ("failed", "Failed (undone)")]

    def queryset(self, request, queryset):
        if self.value() == "pending":
            return queryset.filter(payment_status=TicketPurchase.PaymentStatus.REFUND_PENDING)
        if self.value() == "failed":
            undone = PurchaseEvent.objects.filter(purchase=OuterRef("pk"), action=REFUND_UNDONE)
            return queryset.filter(Exists(undone))
        return queryset
