"""Who may do what over the API. Each staff capability is its own Django
permission (declared on `TicketPurchase.Meta`, the live sale view's on
`Ticket.Meta`, the waiting list's on `WaitingListEntry.Meta`); `is_staff` alone
grants none."""

from django.conf import settings
from django.http import Http404
from rest_framework.permissions import BasePermission

REDEEM = "tickets.redeem_ticketcode"
REFUND = "tickets.refund_ticketpurchase"
VIEW_DEBUG = "tickets.view_purchase_debug"
RESEND = "tickets.resend_tickets"
RERUN = "tickets.rerun_processing"
VIEW_LIVE_SALE = "tickets.view_live_sale"
OFFER_WAITING_LIST = "tickets.offer_waiting_list"
PAUSE_WAITING_LIST = "tickets.pause_waiting_list"
VIEW_WAITING_LIST = "tickets.view_waitinglistentry"
CANCEL_EVENT = "tickets.cancel_event"


def HasPerm(perm: str) -> type[BasePermission]:
    """A permission class: an authenticated (and active) user holding `perm`,
    directly, through a group, or as a superuser. Anonymous is 401, others 403."""

    class _HasPerm(BasePermission):
        def has_permission(self, request, view) -> bool:
            user = request.user
            return bool(user and user.is_authenticated and user.has_perm(perm))

    _HasPerm.__name__ = _HasPerm.__qualname__ = f"HasPerm({perm})"
    return _HasPerm


class SimulationEnabled(BasePermission):
    """The simulated gateway's callback exists only while simulation is on: 404
    otherwise, as if the route were not there."""

    def has_permission(self, request, view) -> bool:
        if not settings.PAYMENT_SIMULATION_ENABLED:
            raise Http404
        return True
