"""Batches of one ticket decided at once by several worker nodes, each with
several processes: the ticket's seats are sold exactly once.

Small batches, a slow gateway and purchases arriving while batches run make the
doorbell ring again and again, so batches of the same ticket overlap on both
nodes; the row lock on the ticket and SKIP LOCKED on its purchases keep them
apart.
"""

import threading

import pytest
from django.db import connection
from django.db.models import Sum

from tests.factories import TicketFactory
from tests.waiting import wait_until_final
from tickets.errors import TicketSoldOut
from tickets.models import PurchaseEvent, Ticket, TicketCode, TicketPurchase
from tickets.sale.purchases import purchase_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SEATS = 40
BUYERS = 120
BATCHES_OVERLAP = {"BATCH_SIZE": "5", "SIMULATED_GATEWAY_LATENCY_MS": "30"}


@pytest.fixture
def two_nodes(start_worker):
    return [
        start_worker("node-a", concurrency=2, extra_env=BATCHES_OVERLAP),
        start_worker("node-b", concurrency=2, extra_env=BATCHES_OVERLAP, purge=False),
    ]


def buy_in_threads(ticket_id: int, buyers: int, threads: int = 6) -> tuple[list[str], int]:
    """The stored purchases' ids, and how many buyers were refused at once as
    sold out (nothing stored for them)."""
    ids: list[str] = []
    refused = 0
    lock = threading.Lock()

    def buyer(first: int) -> None:
        nonlocal refused
        try:
            for n in range(first, buyers, threads):
                try:
                    purchase = purchase_create(
                        ticket_id=ticket_id,
                        quantity=1 + n % 2,
                        customer_name=f"Buyer {n}",
                        customer_email=f"buyer{n}@example.com",
                        payment_method="card",
                        payment_token="tok_success",
                    )
                except TicketSoldOut:
                    with lock:
                        refused += 1
                    continue
                with lock:
                    ids.append(str(purchase.pk))
        finally:
            connection.close()

    workers = [threading.Thread(target=buyer, args=(first,)) for first in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return ids, refused


def test_two_nodes_deciding_one_ticket_sell_its_seats_exactly_once(two_nodes):
    ticket = TicketFactory(total_quantity=SEATS)
    ids, refused = buy_in_threads(ticket.pk, BUYERS)
    assert len(ids) + refused == BUYERS
    assert TicketPurchase.objects.filter(ticket=ticket).count() == len(ids)

    purchases = wait_until_final(ids, timeout=180)

    sold = [p for p in purchases if p.status == TicketPurchase.Status.COMPLETED]
    assert sum(p.quantity for p in sold) == SEATS  # demand is 180 seats: all sell
    assert {p.failure_reason for p in purchases if p not in sold} == {"sold_out"}
    ticket = Ticket.objects.get(pk=ticket.pk)
    assert ticket.available_quantity == 0
    held = TicketPurchase.objects.filter(ticket=ticket, inventory_reserved=True)
    assert held.aggregate(n=Sum("quantity"))["n"] == SEATS
    codes = list(TicketCode.objects.filter(purchase__ticket=ticket).values_list("code", flat=True))
    assert len(codes) == SEATS == len(set(codes))
    for purchase in sold:
        assert purchase.codes.count() == purchase.quantity
    # Each purchase was seated or refused once, never by two batches.
    decided = PurchaseEvent.objects.filter(ticket=ticket, action__in=["seats reserved", "failed"])
    assert decided.count() == len(ids)
    # Both nodes took batches of this ticket.
    for node in two_nodes:
        assert "process_ticket_batch" in node.output()
