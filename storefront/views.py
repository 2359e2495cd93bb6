"""The buyer's storefront: server-rendered pages that work without JavaScript
for browsing, and small scripts (static/storefront/, started by storefront.js)
that buys through the public API and polls the purchase's status.

Views parse and render only: they read through selectors and never write; a
purchase is created by the script's `POST /api/tickets/purchase/direct/`, so
the storefront has no second way to buy. The waiting list works the same way:
the script joins (the answer says "check your e-mail"), confirms the entry from
its e-mailed link, buys an offer, declines and leaves through its API
(tickets/waiting_list/api.py); the entry's page only shows where it stands.
"""

from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from tickets import selectors
from tickets.models import Ticket, TicketPurchase, WaitingListEntry

Status = TicketPurchase.Status
PaymentStatus = TicketPurchase.PaymentStatus
EntryState = WaitingListEntry.State

# The simulated gateway's test tokens a buyer may pick while simulation is on
# (gateways/simulated.py); "" pays later: an unpaid hold, paid on the purchase page.
SIMULATED_CARDS = (
    ("tok_success", "Card that succeeds"),
    ("tok_decline", "Card that is declined"),
    ("tok_pending", "Card whose bank answers late (stays \u201cpaying\u201d for a while)"),
    ("tok_error_once", "Card that fails once, then succeeds"),
    ("tok_error", "Card whose processor keeps failing"),
)
PAY_LATER = ("", "Pay later: hold the seats now, pay on the next page")
# An offer's seats are held already: paying later keeps them until the offer ends.
OFFER_PAY_LATER = ("", "Pay later, on the next page, before the offer ends")


def stripe_in_use() -> dict | None:
    """What the pages need to take cards with Stripe.js, when Stripe takes the
    payments: the card form is Stripe's, and the card number goes to Stripe
    only (the purchase carries the PaymentMethod id Stripe.js made of it)."""
    if settings.PAYMENT_GATEWAY != "stripe":
        return None
    return {"publishable_key": settings.STRIPE_PUBLISHABLE_KEY, "js_url": settings.STRIPE_JS_URL}


def simulated_cards_offered() -> bool:
    """Whether the buyer may choose a simulated card's outcome: only while the
    simulated gateway takes the payments and simulation is switched on."""
    return settings.PAYMENT_SIMULATION_ENABLED and settings.PAYMENT_GATEWAY == "simulated"


def buyer_state(
    *,
    status: str,
    payment_status: str,
    failure_reason: str | None,
    unpaid: bool,
    payment_submitted: bool = False,
) -> str:
    """The state a buyer sees, named after one of the purchase page's sections.
    `unpaid`: pending without a payment token (a hold the buyer pays on the
    page); `payment_submitted`: such a hold was paid and the charge is coming.
    purchase.js (`buyerState`) answers the same for every status poll."""
    if status in (Status.CONFIRMED, Status.COMPLETED):
        return "refunding" if payment_status == PaymentStatus.REFUND_PENDING else "confirmed"
    if status == Status.FAILED:
        return {
            "sold_out": "sold_out",
            "unpaid_holds_full": "holds_full",
            "payment_declined": "declined",
        }.get(failure_reason or "", "failed")
    if status in (Status.EXPIRED, Status.CANCELLED, Status.REFUNDED):
        return str(status)
    if payment_status == PaymentStatus.REQUIRES_ACTION:
        return "authenticate"
    if payment_status == PaymentStatus.PROCESSING or payment_submitted:
        return "paying"
    return "hold" if unpaid else "waiting"


def _join_context(**prefill) -> dict:
    """What the "Join the waiting list" form (_join_form.html) needs."""
    return {
        "join_max": settings.MAX_TICKETS_PER_PURCHASE,
        "offer_minutes": max(1, settings.WAITING_LIST_OFFER_SECONDS // 60),
        "join": prefill,
    }


def _ticket_on_sale(ticket_id: int):
    try:
        return selectors.tickets_on_sale().get(pk=ticket_id)
    except Ticket.DoesNotExist:
        raise Http404("No such event on sale") from None


def event_list(request):
    return render(
        request,
        "storefront/event_list.html",
        {"tickets": selectors.tickets_on_sale()},
    )


def event_detail(request, ticket_id: int):
    ticket = _ticket_on_sale(ticket_id)
    # No more than are free now: asking for more would only be refused.
    most = max(1, min(settings.MAX_TICKETS_PER_PURCHASE, ticket.available_quantity))
    cards = [*SIMULATED_CARDS, PAY_LATER] if simulated_cards_offered() else []
    return render(
        request,
        "storefront/event_detail.html",
        {
            "ticket": ticket,
            "cards": cards,
            "stripe": stripe_in_use(),
            "max_quantity": most,
            **_join_context(),
        },
    )


@never_cache
def purchase_page(request, purchase_id):
    """A purchase's page: what the buyer bookmarks or reloads. The script
    resumes polling from the state rendered here."""
    try:
        purchase = selectors.purchase_detail(purchase_id=purchase_id)
    except TicketPurchase.DoesNotExist:
        raise Http404("No such purchase") from None
    pending = purchase.status == Status.PENDING
    unpaid = pending and not purchase.payment_token
    # A seated hold that was then given a token: its charge comes next.
    payment_submitted = pending and purchase.holds_unpaid and bool(purchase.payment_token)
    state = buyer_state(
        status=purchase.status,
        payment_status=purchase.payment_status,
        failure_reason=purchase.failure_reason,
        unpaid=unpaid,
        payment_submitted=payment_submitted,
    )
    hold_seconds_left = max(0, int((purchase.hold_expires_at - timezone.now()).total_seconds()))
    codes = [code.code for code in purchase.codes.all()] if purchase.confirmed_at else []
    return render(
        request,
        "storefront/purchase.html",
        {
            "purchase": purchase,
            "ticket": purchase.ticket,
            "state": state,
            "unpaid": unpaid,
            "payment_submitted": payment_submitted,
            "hold_seconds_left": hold_seconds_left,
            "codes": codes,
            "delivered": purchase.status == Status.COMPLETED,
            "final": purchase.is_final,
            "cards": SIMULATED_CARDS if simulated_cards_offered() else [],
            "stripe": stripe_in_use(),
            "client_secret": purchase.payment_client_secret if state == "authenticate" else "",
            # Bought through a waiting-list offer: a declined card leads back to
            # the offer (its seats are held for the entry again while it runs).
            "offer_entry": selectors.waiting_list_entry_of_purchase(purchase_id=purchase.pk),
            **_join_context(
                customer_name=purchase.customer_name,
                customer_email=purchase.customer_email,
                quantity=purchase.quantity,
            ),
        },
    )


# The page title of each state of a waiting-list entry.
ENTRY_TITLES = {
    EntryState.UNCONFIRMED: "Confirm your place on the waiting list",
    EntryState.WAITING: "You are on the waiting list",
    EntryState.OFFERED: "Seats are held for you",
    EntryState.TAKEN: "You took the offer",
    EntryState.LAPSED: "The offer ended",
    EntryState.DECLINED: "You declined the offer",
    EntryState.LEFT: "You left the waiting list",
    EntryState.CANCELLED: "The event is cancelled",
}


def entry_state(entry: WaitingListEntry, *, now) -> str:
    """The state a buyer sees: an offer past its end is over even before the
    beat's sweep records it as lapsed (the API no longer sells it)."""
    if entry.state == EntryState.OFFERED and not entry.offer_open(now):
        return EntryState.LAPSED
    return entry.state


@never_cache
def waiting_entry_page(request, entry_id):
    """A waiting-list entry's page, linked from its e-mails: the button that
    confirms it (a GET never does: mail scanners follow links), the place in
    line, or the offer with its prefilled purchase form, or how it ended. The
    script confirms, buys, declines and leaves through the API, then shows this
    again."""
    try:
        entry = selectors.waiting_list_entry(entry_id=entry_id)
    except WaitingListEntry.DoesNotExist:
        raise Http404("No such waiting-list entry") from None
    ticket = entry.ticket
    now = timezone.now()
    state = entry_state(entry, now=now)
    offer_seconds_left = (
        max(0, int((entry.offer_expires_at - now).total_seconds()))
        if state == EntryState.OFFERED
        else 0
    )
    return render(
        request,
        "storefront/waiting_entry.html",
        {
            "entry": entry,
            "ticket": ticket,
            "state": state,
            "title": ENTRY_TITLES[state],
            "position": selectors.waiting_position(entry),
            "offer_seconds_left": offer_seconds_left,
            "total": ticket.price * entry.quantity,
            "cards": [*SIMULATED_CARDS, OFFER_PAY_LATER] if simulated_cards_offered() else [],
            "on_sale": selectors.tickets_on_sale().filter(pk=ticket.pk).exists(),
            "offer_minutes": max(1, settings.WAITING_LIST_OFFER_SECONDS // 60),
        },
    )
