"""The operator's live view of one ticket's sale, in the admin: a page, and the
JSON feed its script (tickets/static/tickets/admin/live.js) polls every
REFRESH_SECONDS to redraw the numbers and the chart. The numbers come from
tickets/console/live_sale.py; these views check the permission, add the admin's links
and render.

`TicketAdmin.get_urls` wraps both in `admin_site.admin_view` (anonymous users
and non-staff go to the admin's login page); staff without `view_live_sale`
get 403.
"""

from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from tickets import permissions
from tickets.console import live_sale
from tickets.models import Ticket, TicketPurchase
from tickets.waiting_list.admin import line_url

REFRESH_SECONDS = 3

STUCK_LABELS = {
    "never_started": "Waiting for a worker too long (never started)",
    "payment_processing": "Payment processing too long",
}


def live_sale_page(request: HttpRequest, ticket_id: int, *, model_admin) -> HttpResponse:
    sale = _sale(request, ticket_id, admin_site=model_admin.admin_site)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Ticket._meta,
        "title": f"Live sale: {sale['ticket']['name']}",
        "ticket_id": ticket_id,
        "sale": sale,
        "states": [
            (status, TicketPurchase.Status(status).label, count)
            for status, count in sale["by_status"].items()
        ],
        "feed_url": reverse(
            f"{model_admin.admin_site.name}:tickets_ticket_live_feed", args=[ticket_id]
        ),
        "refresh_seconds": REFRESH_SECONDS,
    }
    return TemplateResponse(request, "admin/tickets/ticket/live.html", context)


def live_sale_feed(request: HttpRequest, ticket_id: int, *, model_admin) -> JsonResponse:
    return JsonResponse(_sale(request, ticket_id, admin_site=model_admin.admin_site))


def _sale(request: HttpRequest, ticket_id: int, *, admin_site) -> dict:
    if not request.user.has_perm(permissions.VIEW_LIVE_SALE):
        raise PermissionDenied
    try:
        sale = live_sale.live_sale(ticket_id=ticket_id)
    except Ticket.DoesNotExist:
        raise Http404(f"no ticket {ticket_id}") from None
    # Links only for someone who may open the purchases' list.
    may_list = request.user.has_perm("tickets.view_ticketpurchase")
    changelist = reverse(f"{admin_site.name}:tickets_ticketpurchase_changelist")
    for kind, stuck in sale["stuck"].items():
        lookups = stuck.pop("lookups")
        stuck["label"] = STUCK_LABELS[kind]
        stuck["url"] = _changelist_url(changelist, ticket_id, lookups) if may_list else None
    may_see_line = request.user.has_perm(permissions.VIEW_WAITING_LIST)
    sale["waiting_list"]["url"] = line_url(admin_site, ticket_id) if may_see_line else None
    return sale


def _changelist_url(changelist: str, ticket_id: int, lookups: dict) -> str:
    query = {"ticket__id__exact": ticket_id}
    for lookup, value in lookups.items():
        if isinstance(value, tuple | list):  # an `__in` lookup: the admin takes a, b, c
            value = ",".join(str(item) for item in value)
        query[lookup] = value.isoformat() if hasattr(value, "isoformat") else value
    return f"{changelist}?{urlencode(query)}"
