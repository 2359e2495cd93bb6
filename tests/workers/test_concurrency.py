"""Many buyers at once for few seats: exactly the inventory is sold, never more.

The buyers are real HTTP clients against gunicorn, and real workers do the rest.
"""

import json
import threading
import urllib.error
import urllib.request

import pytest

from tests.factories import TicketFactory
from tests.waiting import wait_until_final
from tickets.models import TicketCode, TicketPurchase

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BUYERS = 150
SEATS = 50


def post_json(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_150_simultaneous_buyers_for_50_seats_sell_exactly_50(worker, web_server):
    ticket = TicketFactory(total_quantity=SEATS)
    start = threading.Barrier(BUYERS)
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def buyer(n: int) -> None:
        body = {
            "ticket_id": ticket.pk,
            "quantity": 1,
            "customer_name": f"Buyer {n}",
            "customer_email": f"buyer{n}@example.com",
            "payment_method": "card",
            "payment_token": "tok_success",
        }
        start.wait()
        status, data = post_json(f"{web_server.url}/api/tickets/purchase/direct/", body)
        with lock:
            answers.append((status, data))

    threads = [threading.Thread(target=buyer, args=(n,)) for n in range(BUYERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # A buyer who comes once the seats are gone may learn it at once: 409
    # sold_out, nothing stored. Everyone else is accepted and decided later.
    accepted = [data["purchase_id"] for status, data in answers if status == 202]
    refused = [(status, data) for status, data in answers if status != 202]
    assert len(accepted) + len(refused) == BUYERS
    assert all((status, data["code"]) == (409, "sold_out") for status, data in refused), refused
    assert len(accepted) >= SEATS
    purchases = wait_until_final(accepted, timeout=240)
    assert TicketPurchase.objects.filter(ticket=ticket).count() == len(accepted)

    completed = [p for p in purchases if p.status == TicketPurchase.Status.COMPLETED]
    failed = [p for p in purchases if p.status == TicketPurchase.Status.FAILED]
    assert len(completed) == SEATS
    assert len(failed) == len(accepted) - SEATS
    assert all(p.failure_reason == "sold_out" for p in failed)
    ticket.refresh_from_db()
    assert ticket.available_quantity == 0
    codes = list(TicketCode.objects.values_list("code", flat=True))
    assert len(codes) == SEATS == len(set(codes))
