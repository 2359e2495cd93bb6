"""The waiting room under a burst, with a real worker: what pollers are told
about their place in line agrees with the order the pipeline decides in.

Thirty purchases wait while no worker runs; then a worker deciding three at a
time (a slow gateway) drains the line while every buyer polls. The pipeline's
counter of decided purchases moves after a batch is charged, so a poller may
see at most one batch more ahead of it than the database says, never fewer.
"""

import time

import pytest
from rest_framework.test import APIClient

from tests.factories import TicketFactory, purchase_request
from tests.waiting import wait_until_final
from tickets.models import TicketPurchase

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BUYERS = 30
BATCH = 3
SLOW_BATCHES = {"BATCH_SIZE": str(BATCH), "SIMULATED_GATEWAY_LATENCY_MS": "150"}


def poll_until_decided(client, urls) -> dict[str, list[tuple[float, float, dict]]]:
    """Each purchase's polls as (sent, answered, body) until none waits in line."""
    seen = {url: [] for url in urls}
    waiting = set(urls)
    deadline = time.monotonic() + 60
    while waiting and time.monotonic() < deadline:
        for url in list(waiting):
            sent = time.time()
            body = client.get(url).json()
            seen[url].append((sent, time.time(), body))
            if body["queue_position"] is None:
                waiting.discard(url)
        time.sleep(0.02)
    assert not waiting, f"{len(waiting)} purchases still in line after 60 s"
    return seen


def test_places_in_line_agree_with_the_order_of_decisions(start_worker):
    ticket = TicketFactory(total_quantity=BUYERS)
    client = APIClient()
    urls = []
    for n in range(BUYERS):
        response = client.post(
            "/api/tickets/purchase/direct/",
            purchase_request(ticket, quantity=1, customer_email=f"b{n}@example.com"),
            format="json",
        )
        assert response.status_code == 202
        urls.append(response["Location"])
    ids = [url.rstrip("/").split("/")[-2] for url in urls]

    # Nobody is deciding yet: each buyer sees exactly the purchases accepted before it.
    first_look = [client.get(url).json() for url in urls]
    assert [body["queue_position"] for body in first_look] == list(range(BUYERS))

    # purge=False: the doorbell rung at accept is waiting for it.
    worker = start_worker("waiting-room", concurrency=1, extra_env=SLOW_BATCHES, purge=False)
    try:
        seen = poll_until_decided(client, urls)
        purchases = {str(p.pk): p for p in wait_until_final(ids)}
    finally:
        worker.stop()

    assert {p.status for p in purchases.values()} == {TicketPurchase.Status.COMPLETED}
    decided_at = [purchases[pk].processing_started_at.timestamp() for pk in ids]
    # Decided oldest first, as the line promised.
    assert decided_at == sorted(decided_at)

    for index, url in enumerate(urls):
        positions = [body["queue_position"] for _, _, body in seen[url]]
        waiting = [p for p in positions if p is not None]
        assert waiting == sorted(waiting, reverse=True), f"buyer {index} moved back: {waiting}"
        assert positions[-1] is None
        for sent, answered, body in seen[url]:
            if body["queue_position"] is None:
                continue
            ahead_when_sent = sum(1 for at in decided_at[:index] if at > sent)
            ahead_when_answered = sum(1 for at in decided_at[:index] if at > answered)
            assert ahead_when_answered <= body["queue_position"] <= ahead_when_sent + BATCH, (
                f"buyer {index} told {body['queue_position']} ahead; the database had "
                f"{ahead_when_answered}..{ahead_when_sent}"
            )
    # Once a batch has been measured, the wait is estimated from the drain rate.
    estimates = [
        body["estimated_wait_seconds"]
        for url in urls[BATCH * 2 :]
        for _, _, body in seen[url]
        if body["queue_position"]
    ]
    assert any(estimate is not None and estimate >= 1 for estimate in estimates)
