"""The waiting list end to end, with a real worker on the real broker and a
real SMTP server: a join's link reaches only the mailbox, which confirms the
entry; seats that come back go to the first entries in line that fit (not to
open buyers polling at the same moment), an offer taken ends confirmed with
codes, a lapsed offer passes on, a refund feeds the list."""

import threading
import time
from datetime import timedelta
from uuid import UUID

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import TicketFactory, purchase_request
from tests.inventory import assert_inventory_adds_up
from tests.mailbox import Mailbox, entry_id_of, wait_for_entry_link
from tests.waiting import wait_for, wait_until_final
from tickets.models import TicketPurchase, WaitingListEntry
from tickets.refunds.services import purchase_refund
from workers.celery import app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

Status = TicketPurchase.Status
State = WaitingListEntry.State
CREATE_URL = "/api/tickets/purchase/direct/"


@pytest.fixture
def stack(start_worker):
    """A worker on every queue (pipeline, sweeps, delivery) mailing to a real SMTP server."""
    mailbox = Mailbox().start()
    worker = start_worker("waiting-list", concurrency=3, extra_env={"EMAIL_URL": mailbox.url})
    yield mailbox
    worker.stop()
    mailbox.stop()


def offers_mailed_to(mailbox) -> list[str]:
    return sorted(
        message["To"] for message in mailbox.messages if "held for you" in message["Subject"]
    )


def run_sweep(task_name: str) -> None:
    app.send_task(task_name, queue="sweeps").get(timeout=30)


def join(client, mailbox, ticket, email: str, quantity: int = 1) -> str:
    """Joins as a buyer does: the answer says nothing of the entry; its link
    comes by e-mail (sent by the worker), and confirming it puts it in line."""
    response = client.post(
        f"/api/tickets/{ticket.pk}/waiting-list/",
        {"customer_name": "Wendy", "customer_email": email, "quantity": quantity},
        format="json",
    )
    assert response.status_code == 202, response.json()
    assert "entry_id" not in response.json()
    entry_id = entry_id_of(wait_for_entry_link(mailbox.messages, email, "Confirm your place"))
    confirmed = client.post(f"/api/tickets/waiting-list/{entry_id}/confirm/")
    assert (confirmed.status_code, confirmed.json()["state"]) == (200, "waiting")
    return entry_id


def entry_states(ids) -> list[str]:
    states = dict(WaitingListEntry.objects.filter(pk__in=ids).values_list("pk", "state"))
    return [states[UUID(pk)] for pk in ids]


def test_freed_seats_go_to_the_line_then_through_offers_to_tickets(stack):
    client = APIClient()
    ticket = TicketFactory(name="Sunset Dhow Cruise", total_quantity=3)
    holds = [
        client.post(
            CREATE_URL,
            purchase_request(ticket, payment_token="", customer_email=f"hold{n}@example.com"),
            format="json",
        ).json()["purchase_id"]
        for n in range(3)
    ]
    wait_for(
        lambda: TicketPurchase.objects.filter(pk__in=holds, inventory_reserved=True).count() == 3
    )
    quantities = [2, 1, 1, 1, 1]
    entries = [
        join(client, stack, ticket, f"wait{n}@example.com", q) for n, q in enumerate(quantities)
    ]

    # Open buyers keep buying and polling once the three holds have expired.
    # (One accepted while the holds were pending would wait in line and come
    # first: tests/tickets/sale/test_fairness.py.)
    open_buyers: list[str] = []
    stop = threading.Event()

    def buy_and_poll() -> None:
        buyer = APIClient()
        n = 0
        while not stop.is_set():
            response = buyer.post(
                CREATE_URL,
                purchase_request(ticket, customer_email=f"open{n}@example.com"),
                format="json",
            )
            if response.status_code == 202:
                open_buyers.append(response.json()["purchase_id"])
                buyer.get(response["Location"])
            n += 1
            time.sleep(0.05)
        connection.close()  # this thread's own connection

    buyers = threading.Thread(target=buy_and_poll)
    TicketPurchase.objects.filter(pk__in=holds).update(
        hold_expires_at=timezone.now() - timedelta(seconds=1)
    )
    run_sweep("tickets.expire_purchases")
    buyers.start()
    try:
        time.sleep(1)  # buyers keep coming after the seats came back
    finally:
        stop.set()
        buyers.join()

    # The three oldest entries that fit got the seats (the first wants two).
    assert entry_states(entries) == ["waiting", "offered", "offered", "offered", "waiting"]
    wait_for(lambda: len(offers_mailed_to(stack)) == 3, timeout=30)
    assert offers_mailed_to(stack) == [
        "wait1@example.com",
        "wait2@example.com",
        "wait3@example.com",
    ]
    # No open buyer got any of them.
    for purchase in wait_until_final(open_buyers):
        assert (purchase.status, purchase.failure_reason) == (Status.FAILED, "sold_out")
    assert_inventory_adds_up(ticket)

    # An entry takes its offer: confirmed with codes by the worker, then mailed.
    taken = client.post(
        f"/api/tickets/waiting-list/{entries[1]}/purchase/",
        {"payment_method": "card", "payment_token": "tok_success"},
        format="json",
    )
    assert taken.status_code == 202
    [bought] = wait_until_final([taken.json()["purchase_id"]])
    assert bought.status == Status.COMPLETED and bought.codes.count() == 1
    assert bought.customer_email == "wait1@example.com"

    # Another lets its offer lapse: the seat passes to the next entry that fits.
    WaitingListEntry.objects.filter(pk=entries[2]).update(
        offer_expires_at=timezone.now() - timedelta(seconds=1)
    )
    run_sweep("tickets.lapse_waiting_list_offers")
    assert entry_states(entries) == ["waiting", "taken", "lapsed", "offered", "offered"]
    wait_for(lambda: "wait4@example.com" in offers_mailed_to(stack), timeout=30)
    assert_inventory_adds_up(ticket)


def test_a_refund_feeds_the_list_not_the_open_sale(stack):
    client = APIClient()
    ticket = TicketFactory(total_quantity=2)
    paid = client.post(CREATE_URL, purchase_request(ticket, quantity=2), format="json")
    [purchase] = wait_until_final([paid.json()["purchase_id"]])
    assert purchase.status == Status.COMPLETED
    entry = join(client, stack, ticket, "wait@example.com", 2)

    purchase_refund(purchase_id=purchase.pk)

    assert entry_states([entry]) == ["offered"]
    ticket.refresh_from_db()
    assert (ticket.available_quantity, ticket.offered_quantity) == (0, 2)
    wait_for(lambda: offers_mailed_to(stack) == ["wait@example.com"], timeout=30)
    refused = client.post(CREATE_URL, purchase_request(ticket), format="json")
    assert refused.status_code == 409
    assert_inventory_adds_up(ticket)
