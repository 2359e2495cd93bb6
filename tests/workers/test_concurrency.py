"""Many buyers at once for few seats: exactly the inventory is sold, never more."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.factories import TicketFactory
from tests.waiting import wait_until_final
from tickets.models import TicketCode, TicketPurchase

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.slow]

BUYERS = 150
SEATS = 50


def test_150_simultaneous_buyers_for_50_seats_sell_exactly_50(worker):
    ticket = TicketFactory(total_quantity=SEATS)
    start = threading.Barrier(BUYERS)
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def buyer(n: int) -> None:
        client = APIClient()
        body = {
            "ticket_id": ticket.pk,
            "quantity": 1,
            "customer_name": f"Buyer {n}",
            "customer_email": f"buyer{n}@example.com",
            "payment_method": "card",
            "payment_token": "tok_success",
        }
        try:
            start.wait()
            response = client.post("/api/tickets/purchase/direct/", body, format="json")
            with lock:
                answers.append((response.status_code, response.json().get("purchase_id")))
        finally:
            connection.close()

    threads = [threading.Thread(target=buyer, args=(n,)) for n in range(BUYERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [code for code, _ in answers] == [202] * BUYERS
    purchases = wait_until_final([pk for _, pk in answers], timeout=240)

    completed = [p for p in purchases if p.status == TicketPurchase.Status.COMPLETED]
    failed = [p for p in purchases if p.status == TicketPurchase.Status.FAILED]
    assert len(completed) == SEATS
    assert len(failed) == BUYERS - SEATS
    assert {p.failure_reason for p in failed} == {"sold_out"}
    ticket.refresh_from_db()
    assert ticket.available_quantity == 0
    codes = list(TicketCode.objects.values_list("code", flat=True))
    assert len(codes) == SEATS == len(set(codes))
