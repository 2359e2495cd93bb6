"""The operator's door to cancelling an event: an action on a ticket that shows
the dry run first and cancels only when confirmed, and the cancellations'
changelist with their progress. Only parses and renders; the work is
tickets/cancellation/services.py."""

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from tickets.cancellation import services
from tickets.models import EventCancellation

CONFIRM = "cancel_event_confirmed"


@admin.action(description="Cancel this event and refund everyone", permissions=["cancel_event"])
def cancel_event(modeladmin, request, queryset):
    """First the dry run's page; its button posts the action again, confirmed."""
    if queryset.count() != 1:
        modeladmin.message_user(request, "Cancel one event at a time.", messages.WARNING)
        return None
    ticket = queryset.get()
    existing = EventCancellation.objects.filter(ticket=ticket).first()
    if request.POST.get(CONFIRM) == "yes" or existing is not None:
        cancellation = services.event_cancel(ticket_id=ticket.pk, user=request.user)
        said = "was already cancelled" if existing else "is cancelled: refunds are under way"
        modeladmin.message_user(request, f"{ticket} {said}.", messages.SUCCESS)
        return HttpResponseRedirect(cancellation_url(modeladmin.admin_site, cancellation))
    figures = services.event_cancel_figures(ticket_id=ticket.pk)
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"Cancel {ticket} and refund everyone?",
        "ticket": ticket,
        "figures": figures,
        "money": services.money(figures["money_to_refund"]),
        "confirm": CONFIRM,
        "opts": modeladmin.model._meta,
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/tickets/ticket/cancel_event.html", context)


def cancellation_url(admin_site, cancellation: EventCancellation) -> str:
    return reverse(f"{admin_site.name}:tickets_eventcancellation_change", args=[cancellation.pk])


@admin.register(EventCancellation)
class EventCancellationAdmin(admin.ModelAdmin):
    """Read-only: a cancellation is made by the ticket's action and moved on by
    its tasks and the resume sweep."""

    list_display = (
        "ticket",
        "status",
        "done",
        "pending",
        "failed",
        "money_refunded",
        "requested_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("status",)
    fields = (*list_display, "dry_run")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("ticket", "requested_by")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def _progress(self, cancellation: EventCancellation) -> dict:
        # One read of the purchases per row and page, not one per column.
        cached = getattr(cancellation, "_progress", None)
        if cached is None:
            cached = cancellation._progress = services.cancellation_progress(cancellation)
        return cached

    @admin.display(description="Refunded")
    def done(self, cancellation: EventCancellation) -> int:
        return self._progress(cancellation)["done"]

    @admin.display(description="Pending")
    def pending(self, cancellation: EventCancellation) -> int:
        return self._progress(cancellation)["pending"]

    @admin.display(description="Refund refused")
    def failed(self, cancellation: EventCancellation) -> int:
        return self._progress(cancellation)["failed"]

    @admin.display(description="Money refunded so far")
    def money_refunded(self, cancellation: EventCancellation) -> str:
        return services.money(self._progress(cancellation)["money_refunded"])

    @admin.display(description="Dry run (frozen at confirm)")
    def dry_run(self, cancellation: EventCancellation) -> str:
        figures = dict(cancellation.figures)
        money = services.money(figures.pop("money_to_refund", {}))
        counts = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in figures.items())
        return f"{counts}; money to refund: {money}"
