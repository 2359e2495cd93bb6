"""A worker killed with SIGKILL mid-flight loses nothing and charges nothing twice.

Tasks are acknowledged late, so the dead worker's messages stay unacknowledged on
the broker and the next worker re-runs them (Redis hands them back once the
visibility timeout has passed, RabbitMQ as soon as the dead worker's connection
closes); every step they repeat is idempotent.
"""

import pytest
import redis
from django.conf import settings
from django.db.models import Sum

from tests.factories import TicketFactory
from tests.waiting import wait_for, wait_until_final
from tickets.models import Ticket, TicketCode, TicketPurchase

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PURCHASES = 24
SLOW_GATEWAY = {"SIMULATED_GATEWAY_LATENCY_MS": "400"}
QUICK_RESTORE = {
    "CELERY_VISIBILITY_TIMEOUT": "3",
    "CELERY_UNACKED_RESTORE_INTERVAL": "1",
    "CELERY_UNACKED_RESTORE_THROTTLE": "1",
}


def buy(api_client, ticket, n: int) -> str:
    body = {
        "ticket_id": ticket.pk,
        "quantity": 1,
        "customer_name": f"Buyer {n}",
        "customer_email": f"buyer{n}@example.com",
        "payment_method": "card",
        "payment_token": "tok_success",
    }
    response = api_client.post("/api/tickets/purchase/direct/", body, format="json")
    assert response.status_code == 202
    return response.json()["purchase_id"]


def test_sigkilled_worker_loses_no_purchase_and_charges_none_twice(api_client, start_worker):
    ticket = TicketFactory(total_quantity=PURCHASES + 6)
    doomed = start_worker("doomed", concurrency=2, extra_env=SLOW_GATEWAY)
    try:
        ids = [buy(api_client, ticket, n) for n in range(PURCHASES)]
        # Kill it while charges are in the middle of the gateway call.
        wait_for(
            lambda: TicketPurchase.objects.filter(payment_status="processing").exists(), timeout=30
        )
        doomed.kill()
    finally:
        doomed.stop()
    in_flight = TicketPurchase.objects.exclude(status__in=TicketPurchase.FINAL_STATUSES).count()
    assert in_flight > 0, "the kill came too late to prove anything"

    survivor = start_worker("survivor", concurrency=2, extra_env=QUICK_RESTORE, purge=False)
    try:
        purchases = wait_until_final(ids, timeout=120)
    finally:
        survivor.stop()

    assert {p.status for p in purchases} == {TicketPurchase.Status.COMPLETED}
    for purchase in purchases:
        assert purchase.codes.count() == purchase.quantity
    gateway = redis.Redis.from_url(settings.REDIS_URL)
    charges = list(gateway.scan_iter("simgw:charge:*"))
    assert len(charges) == PURCHASES  # one capture per purchase, none under another key
    assert TicketCode.objects.count() == PURCHASES

    ticket = Ticket.objects.get(pk=ticket.pk)
    held = TicketPurchase.objects.filter(inventory_reserved=True).aggregate(n=Sum("quantity"))["n"]
    assert ticket.total_quantity - ticket.available_quantity == held == PURCHASES
