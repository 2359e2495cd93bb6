"""The sale's figures read when the web's metrics page is scraped
(docs/metrics.md): per ticket on sale, purchases by status, where the seats
are, the line and how fast it drains, the waiting list; over all tickets,
purchases stuck past the sweeps and refunds still owed; and the beat's last
inventory audit. A few grouped statements per scrape, each on an index; per-
ticket series only for the tickets on sale, so labels stay bounded."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Min, Sum
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from tickets import ledger
from tickets.models import TicketPurchase, WaitingListEntry
from tickets.selectors import tickets_on_sale

Status = TicketPurchase.Status
PaymentStatus = TicketPurchase.PaymentStatus
NOT_FINAL = (Status.PENDING, Status.CONFIRMED)
SOLD = (Status.CONFIRMED, Status.COMPLETED)


class SaleCollector(Collector):
    def collect(self):
        tickets = list(
            tickets_on_sale().values_list(
                "pk", "available_quantity", "offered_quantity", "list_held_quantity"
            )
        )
        ids = [pk for pk, *_ in tickets]
        yield from _purchases_and_seats(tickets, ids)
        yield _waiting_list(ids)
        yield from _stuck()
        yield from _refunds_pending()
        yield from _inventory_audit()


def _purchases_and_seats(tickets, ids):
    purchases = GaugeMetricFamily(
        "tickets_purchases",
        "Purchases of each ticket on sale, by status.",
        labels=["ticket", "status"],
    )
    seats = GaugeMetricFamily(
        "tickets_seats", "Where the seats of each ticket on sale are.", labels=["ticket", "state"]
    )
    depth = GaugeMetricFamily(
        "tickets_queue_depth", "Purchases waiting in line, per ticket.", labels=["ticket"]
    )
    drained = CounterMetricFamily(
        "tickets_queue_drained", "Purchases that have left the line, per ticket.", labels=["ticket"]
    )
    rows = (
        TicketPurchase.objects.filter(ticket_id__in=ids)
        .values_list("ticket_id", "status", "inventory_reserved")
        .annotate(n=Count("id"), seats=Sum("quantity"))
        .order_by()
    )
    by_ticket: dict[int, dict] = {
        pk: {"statuses": {}, "held": 0, "sold": 0, "line": 0, "all": 0} for pk in ids
    }
    for ticket_id, status, reserved, n, seat_count in rows:
        figures = by_ticket[ticket_id]
        figures["statuses"][status] = figures["statuses"].get(status, 0) + n
        figures["all"] += n
        if status == Status.PENDING and reserved:
            figures["held"] += seat_count
        elif status == Status.PENDING:
            figures["line"] += n
        if status in SOLD:
            figures["sold"] += seat_count
    for pk, available, offered, kept in tickets:
        figures, label = by_ticket[pk], str(pk)
        for status in Status.values:
            purchases.add_metric([label, status], figures["statuses"].get(status, 0))
        for state, value in (
            ("free", available),
            ("held", figures["held"]),
            ("sold", figures["sold"]),
            ("offered", offered),
            ("kept", kept),
        ):
            seats.add_metric([label, state], value)
        depth.add_metric([label], figures["line"])
        drained.add_metric([label], figures["all"] - figures["line"])
    yield from (purchases, seats, depth, drained)


def _waiting_list(ids) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "tickets_waiting_list_entries",
        "Waiting-list entries of each ticket on sale, by state.",
        labels=["ticket", "state"],
    )
    live = (
        WaitingListEntry.State.UNCONFIRMED,
        WaitingListEntry.State.WAITING,
        WaitingListEntry.State.OFFERED,
    )
    counts = {
        (ticket_id, state): n
        for ticket_id, state, n in WaitingListEntry.objects.filter(
            ticket_id__in=ids, state__in=live
        )
        .values_list("ticket_id", "state")
        .annotate(n=Count("id"))
        .order_by()
    }
    for pk in ids:
        for state in live:
            family.add_metric([str(pk), state], counts.get((pk, state), 0))
    return family


def _age(oldest) -> float:
    return (timezone.now() - oldest).total_seconds() if oldest is not None else 0.0


def _stuck():
    since = timezone.now() - timedelta(seconds=settings.STUCK_PURCHASE_SECONDS)
    found = TicketPurchase.objects.filter(status__in=NOT_FINAL, updated_at__lt=since).aggregate(
        n=Count("id"), oldest=Min("updated_at")
    )
    yield GaugeMetricFamily(
        "tickets_purchases_stuck",
        "Purchases not final and untouched for longer than STUCK_PURCHASE_SECONDS.",
        value=found["n"],
    )
    yield GaugeMetricFamily(
        "tickets_purchase_oldest_stuck_seconds",
        "Age of the oldest stuck purchase (0 when none).",
        value=_age(found["oldest"]),
    )


def _refunds_pending():
    found = TicketPurchase.objects.filter(payment_status=PaymentStatus.REFUND_PENDING).aggregate(
        n=Count("id"), oldest=Min("updated_at")
    )
    yield GaugeMetricFamily(
        "tickets_refunds_pending", "Refunds owed and not yet done.", value=found["n"]
    )
    yield GaugeMetricFamily(
        "tickets_refund_pending_oldest_seconds",
        "Age of the oldest pending refund (0 when none).",
        value=_age(found["oldest"]),
    )


def _inventory_audit():
    broken, at = ledger.inventory_audit_last()
    family = GaugeMetricFamily(
        "tickets_inventory_broken",
        "1 when the ticket's inventory equation did not add up at the beat's last audit.",
        labels=["ticket"],
    )
    for ticket_id, is_broken in sorted(broken.items()):
        family.add_metric([str(ticket_id)], 1 if is_broken else 0)
    yield family
    yield GaugeMetricFamily(
        "tickets_inventory_audit_timestamp_seconds",
        "When the beat last audited the inventory (0: never).",
        value=at or 0.0,
    )


__all__ = ["SaleCollector"]
