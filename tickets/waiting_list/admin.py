"""The waiting list in the admin: each ticket's line with its places, the offers
and when they end, entries not confirmed yet (no place; deleted when never
confirmed), and an operator's offer out of turn. Entries are read-only
here: they change only through tickets/waiting_list/offers.py.

The helpers at the bottom show a ticket's line on its own pages (TicketAdmin in
tickets/admin.py, the live sale view)."""

from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import Count, F, Q, Window
from django.db.models.functions import Rank
from django.urls import reverse
from django.utils.html import format_html

from project.admin_actions import run_service_on_each
from tickets import permissions, selectors
from tickets.models import Ticket, WaitingListEntry
from tickets.waiting_list import offers

State = WaitingListEntry.State

ENTRY_FIELDS = (
    "id",
    "ticket",
    "state",
    "position",
    "customer_name",
    "customer_email",
    "quantity",
    "client_address",
    "created_at",
    "confirmed_at",
    "offered_at",
    "offer_expires_at",
    "purchase_link",
    "updated_at",
)


def line_places(entries: list[WaitingListEntry]) -> dict:
    """Each waiting entry's place in its ticket's line (1 is next), by id, for a
    page of entries in one query: the waiting entries of their tickets ranked in
    line order by a window function.

    Ranked over the whole line, not over the page's rows: a search for one e-mail
    must not put it first. Entries that joined after the page's latest cannot
    change a place on it, so they are left out. A rank, not a row number: it is
    the place `selectors.waiting_position` tells the buyer (those who confirmed
    before, plus one). Unconfirmed entries have no place."""
    waiting = [entry for entry in entries if entry.state == State.WAITING]
    if not waiting:
        return {}
    line = (
        WaitingListEntry.objects.filter(
            state=State.WAITING,
            ticket_id__in={entry.ticket_id for entry in waiting},
            confirmed_at__lte=max(entry.confirmed_at for entry in waiting),
        )
        .order_by()
        .annotate(
            place=Window(Rank(), partition_by=F("ticket_id"), order_by=F("confirmed_at").asc())
        )
        .values_list("pk", "place")
    )
    on_page = {entry.pk for entry in waiting}
    return {pk: place for pk, place in line if pk in on_page}


class LineChangeList(ChangeList):
    """The entries' changelist, with their places in line (`place`)."""

    def get_results(self, request) -> None:
        super().get_results(request)
        self.result_list = list(self.result_list)
        places = line_places(self.result_list)
        for entry in self.result_list:
            entry.place = places.get(entry.pk)


@admin.register(WaitingListEntry)
class WaitingListEntryAdmin(admin.ModelAdmin):
    list_display = (
        "ticket",
        "position",
        "customer_name",
        "customer_email",
        "quantity",
        "state",
        "offered_at",
        "offer_expires_at",
        "created_at",
        "confirmed_at",
        "purchase_link",
    )
    list_filter = ("state", "ticket")
    search_fields = ("id", "customer_email")
    list_select_related = ("ticket",)
    fields = ENTRY_FIELDS
    readonly_fields = ENTRY_FIELDS
    actions = ["offer_now"]

    def get_changelist(self, request, **kwargs):
        return LineChangeList

    # Entries come and go through the services only (join, offer, take, lapse, leave).
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_offer_permission(self, request) -> bool:
        return request.user.has_perm(permissions.OFFER_WAITING_LIST)

    @admin.display(description="Place in line", ordering="confirmed_at")
    def position(self, entry: WaitingListEntry) -> int | None:
        if hasattr(entry, "place"):  # a changelist's page, placed in one query
            return entry.place
        return selectors.waiting_position(entry)

    @admin.display(description="Purchase")
    def purchase_link(self, entry: WaitingListEntry) -> str | None:
        if entry.purchase_id is None:
            return None
        url = reverse(
            f"{self.admin_site.name}:tickets_ticketpurchase_change", args=[entry.purchase_id]
        )
        return format_html('<a href="{}">{}</a>', url, entry.purchase_id)

    @admin.action(description="Send an offer now (from free seats)", permissions=["offer"])
    def offer_now(self, request, queryset):
        # First in line first: when free seats run short, they go to whoever waited longest.
        run_service_on_each(
            self,
            request,
            queryset.order_by("ticket_id", "confirmed_at"),
            offers.offer_by_hand,
            id_argument="entry_id",
            done="offered their seats",
        )


# --- On the ticket's pages ---------------------------------------------------------------


def demand_text(seats: int, amount: Decimal, currency: str) -> str:
    if not seats:
        return "Nobody waiting for seats"
    noun = "seat" if seats == 1 else "seats"
    return (
        f"{seats} {noun} wanted on the waiting list "
        f"(= {amount:.2f} {currency} if capacity were added)"
    )


def line_url(admin_site, ticket_id: int) -> str:
    """The ticket's waiting entries in line order (the changelist filtered)."""
    changelist = reverse(f"{admin_site.name}:tickets_waitinglistentry_changelist")
    return f"{changelist}?{urlencode({'ticket__id__exact': ticket_id})}"


def line_summary(ticket: Ticket) -> dict[str, int]:
    """Entries waiting, open offers and entries not confirmed yet (outside the
    line) of one ticket, in one query."""
    active = WaitingListEntry.objects.filter(
        ticket=ticket, state__in=WaitingListEntry.ACTIVE_STATES
    )
    return active.aggregate(
        waiting=Count("pk", filter=Q(state=State.WAITING)),
        offered=Count("pk", filter=Q(state=State.OFFERED)),
        unconfirmed=Count("pk", filter=Q(state=State.UNCONFIRMED)),
    )
