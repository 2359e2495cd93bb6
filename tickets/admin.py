from functools import partial

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from project.admin_actions import run_service_on_each
from project.admin_inlines import AuditTrailInline
from tickets import inventory, permissions, seats
from tickets.cancellation.admin import cancel_event
from tickets.console import admin as console
from tickets.delivery import services as delivery
from tickets.errors import CapacityRefused
from tickets.models import PurchaseEvent, Ticket, TicketCode, TicketPurchase
from tickets.refunds import services as refunds
from tickets.refunds.admin import RefundListFilter
from tickets.sale import purchases
from tickets.waiting_list import services as waiting_list
from tickets.waiting_list.admin import demand_text, line_summary, line_url

# What an operator edits on a ticket's page; nothing else is a form field.
EVENT_FIELDS = (
    "name",
    "description",
    "venue",
    "destination_name",
    "starts_at",
    "price",
    "currency",
    "is_on_sale",
    "sale_starts_at",
    "sale_ends_at",
)
# The seat counts move only through services (conditional UPDATEs): a form that
# wrote them back would undo every sale made since the page was opened.
INVENTORY_FIELDS = (
    "total_quantity",
    "available_quantity",
    "unpaid_held_quantity",
    "offered_quantity",
    "seats_kept_for_line",
)
# Pausing offers is an action of its own (and a permission), not a checkbox.
WAITING_LIST_FIELDS = ("waiting_list_offers", "waiting_list_wanted")
SEATS_LIMIT = 1_000_000


class TicketCapacityForm(forms.ModelForm):
    """The ticket's change form (the admin supplies the model and its fields)."""

    seats_delta = forms.IntegerField(
        label="Add or remove seats",
        initial=0,
        required=False,
        min_value=-SEATS_LIMIT,
        max_value=SEATS_LIMIT,
        help_text=(
            "Seats to add, or to remove with a minus sign. Applied on save to the numbers "
            "as they are then, so sales made since this page opened stay sold; only free "
            "seats can be removed."
        ),
    )


class PurchaseAuditTrailInline(AuditTrailInline):
    model = PurchaseEvent
    fk_name = "purchase"


class TicketAuditTrailInline(AuditTrailInline):
    """A ticket's own changes (capacity); its purchases' rows are on each purchase."""

    model = PurchaseEvent
    fk_name = "ticket"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(purchase__isnull=True)


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "venue",
        "starts_at",
        "price",
        "currency",
        "available_quantity",
        "offered_quantity",
        "total_quantity",
        "is_on_sale",
        "waiting_list_paused",
        "waiting_list_wanted",
    )
    list_filter = ("is_on_sale", "currency", "waiting_list_paused")
    search_fields = ("name", "venue", "destination_name")
    inlines = [TicketAuditTrailInline]
    actions = ["pause_offers", "resume_offers", cancel_event]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(seats_wanted=waiting_list.seats_wanted())

    def get_urls(self):
        # Before the model admin's own: its "<path:object_id>/" would take these.
        live = [
            path(
                "<int:ticket_id>/live/",
                self.admin_site.admin_view(partial(console.live_sale_page, model_admin=self)),
                name="tickets_ticket_live",
            ),
            path(
                "<int:ticket_id>/live.json",
                self.admin_site.admin_view(partial(console.live_sale_feed, model_admin=self)),
                name="tickets_ticket_live_feed",
            ),
        ]
        return live + super().get_urls()

    def get_list_display(self, request):
        shown = super().get_list_display(request)
        if request.user.has_perm(permissions.VIEW_LIVE_SALE):
            return (*shown, "live_sale_link")
        return shown

    @admin.display(description="Live sale")
    def live_sale_link(self, ticket: Ticket) -> str:
        url = reverse(f"{self.admin_site.name}:tickets_ticket_live", args=[ticket.pk])
        return format_html('<a href="{}">Live sale</a>', url)

    # --- The waiting list ---

    @admin.display(description="Kept for the waiting list")
    def seats_kept_for_line(self, ticket: Ticket) -> int:
        # Seats that came back while people wait but fit none of them yet.
        return ticket.list_held_quantity

    @admin.display(description="Waiting list wants")
    def waiting_list_wanted(self, ticket: Ticket) -> str:
        return demand_text(ticket.seats_wanted, ticket.price * ticket.seats_wanted, ticket.currency)

    @admin.display(description="Offers")
    def waiting_list_offers(self, ticket: Ticket) -> str:
        if ticket.waiting_list_paused:
            return (
                "Paused: seats that come back go on sale. "
                "Resume with the action “Resume waiting-list offers”."
            )
        return "On: seats that come back are offered to the oldest entries that fit first."

    @admin.display(description="Line")
    def waiting_list_line(self, ticket: Ticket) -> str:
        line = line_summary(ticket)
        return format_html(
            '<a href="{}">{} waiting, {} open offer(s): the line in order</a>'
            " ({} not confirmed yet: no place in line)",
            line_url(self.admin_site, ticket.pk),
            line["waiting"],
            line["offered"],
            line["unconfirmed"],
        )

    def has_cancel_event_permission(self, request) -> bool:
        return request.user.has_perm(permissions.CANCEL_EVENT)

    def has_pause_waiting_list_permission(self, request) -> bool:
        return request.user.has_perm(permissions.PAUSE_WAITING_LIST)

    @admin.action(description="Pause waiting-list offers", permissions=["pause_waiting_list"])
    def pause_offers(self, request, queryset):
        run_service_on_each(
            self,
            request,
            queryset,
            partial(waiting_list.ticket_pause_offers, paused=True),
            id_argument="ticket_id",
            done="paused: seats that come back go on sale",
        )

    @admin.action(description="Resume waiting-list offers", permissions=["pause_waiting_list"])
    def resume_offers(self, request, queryset):
        run_service_on_each(
            self,
            request,
            queryset,
            partial(waiting_list.ticket_pause_offers, paused=False),
            id_argument="ticket_id",
            done="resumed: seats that come back go to the waiting list first",
        )

    # --- The form ---

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            # A new ticket sets its total once, and all of it is free.
            return [(None, {"fields": EVENT_FIELDS}), ("Seats", {"fields": ["total_quantity"]})]
        seats = list(INVENTORY_FIELDS)
        if self.has_change_permission(request, obj):
            seats.append("seats_delta")  # below the numbers it changes
        line = list(WAITING_LIST_FIELDS)
        if request.user.has_perm(permissions.VIEW_WAITING_LIST):
            line.append("waiting_list_line")
        return [
            (None, {"fields": EVENT_FIELDS}),
            ("Seats", {"fields": seats}),
            ("Waiting list", {"fields": line}),
        ]

    def get_readonly_fields(self, request, obj=None):
        # Once the ticket exists its counts are shown, and capacity changes by a delta.
        if obj is None:
            return ()
        shown = (*INVENTORY_FIELDS, *WAITING_LIST_FIELDS, "waiting_list_line")
        # A cancelled event never goes back on sale: its buyers are being refunded.
        return (*shown, "is_on_sale") if hasattr(obj, "cancellation") else shown

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            kwargs["form"] = TicketCapacityForm
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change:
            inventory.ticket_seats_initial(obj)
            super().save_model(request, obj, form, change)
            return
        delta = form.cleaned_data.get("seats_delta") or 0
        if delta:
            try:
                ticket = seats.ticket_change_capacity(ticket_id=obj.pk, delta=delta)
            except CapacityRefused as exc:
                # Nothing on the page is saved: the operator sees the numbers again.
                request.capacity_refused = True
                self.message_user(request, f"Nothing was saved: {exc.detail}", messages.ERROR)
                return
            self.message_user(
                request,
                f"{delta:+d} seats: {ticket.total_quantity} in all, "
                f"{ticket.available_quantity} free.",
                messages.SUCCESS,
            )
        # Only what the form edits: the seat counts on `obj` are already stale.
        model_fields = {field.name for field in Ticket._meta.concrete_fields}
        edited = [name for name in form.changed_data if name in model_fields]
        obj.save(update_fields=[*edited, "updated_at"])

    def log_change(self, request, obj, message):
        if getattr(request, "capacity_refused", False):
            return None  # nothing changed
        return super().log_change(request, obj, message)

    def response_change(self, request, obj):
        if getattr(request, "capacity_refused", False):
            # Back to the page, with the error and today's numbers, not "changed successfully".
            return HttpResponseRedirect(request.get_full_path())
        return super().response_change(request, obj)


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
    list_filter = (
        "status",
        "payment_status",
        RefundListFilter,
        "dispute",
        "payment_method",
        "refund_reason",
        "ticket",
    )
    # A request id a buyer or a log line quotes (X-Request-ID) finds its purchase.
    search_fields = ("id", "customer_name", "customer_email", "codes__code", "=request_id")
    list_select_related = ("ticket",)
    date_hierarchy = "created_at"
    inlines = [TicketCodeInline, PurchaseAuditTrailInline]
    actions = ["rerun_processing", "mark_refunded", "resend_tickets"]
    readonly_fields = [field.name for field in TicketPurchase._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # A purchase holds seats and money: it ends through the services (cancel,
        # refund, expiry), never by deleting its row behind the inventory's back.
        return False

    # Each action is its own permission (TicketPurchase.Meta.permissions).
    def has_rerun_permission(self, request) -> bool:
        return request.user.has_perm(permissions.RERUN)

    def has_refund_permission(self, request) -> bool:
        return request.user.has_perm(permissions.REFUND)

    def has_resend_permission(self, request) -> bool:
        return request.user.has_perm(permissions.RESEND)

    @admin.action(description="Re-run processing of selected purchases", permissions=["rerun"])
    def rerun_processing(self, request, queryset):
        run_service_on_each(
            self,
            request,
            queryset,
            purchases.purchase_retry_processing,
            id_argument="purchase_id",
            done="re-enqueued",
        )

    @admin.action(description="Refund selected purchases", permissions=["refund"])
    def mark_refunded(self, request, queryset):
        run_service_on_each(
            self,
            request,
            queryset,
            refunds.purchase_refund,
            id_argument="purchase_id",
            done="refunded",
        )

    @admin.action(description="Resend tickets by e-mail", permissions=["resend"])
    def resend_tickets(self, request, queryset):
        run_service_on_each(
            self,
            request,
            queryset,
            delivery.purchase_resend_tickets,
            id_argument="purchase_id",
            done="sent again",
        )
