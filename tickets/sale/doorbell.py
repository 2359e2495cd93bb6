"""A ticket's batch doorbell (project/queue.py: one waiting message per ticket
at most): rung when there is something for the batched pipeline
(tickets/sale/batch.py) to decide, answered by the worker that decides it.

Its own module, low in the house, because more than the sale rings it: seats
coming back (tickets/waiting_list/offers.py) ring it for the purchases waiting
in line, which get those seats first.
"""

from django.conf import settings

from project.queue import doorbell_answer, ring, ring_on_commit
from project.tasks import BATCH_TASK


def doorbell_key(ticket_id: int) -> str:
    return f"ticket-batch:{ticket_id}"


def batch_ring(ticket_id: int) -> bool:
    """Rings the ticket's batch now (the purchase must be committed)."""
    return ring(
        BATCH_TASK,
        ticket_id,
        key=doorbell_key(ticket_id),
        hold_seconds=settings.BATCH_DOORBELL_SECONDS,
    )


def batch_ring_on_commit(ticket_id: int) -> None:
    ring_on_commit(
        BATCH_TASK,
        ticket_id,
        key=doorbell_key(ticket_id),
        hold_seconds=settings.BATCH_DOORBELL_SECONDS,
    )


def batch_answer(ticket_id: int) -> None:
    """The worker is about to look for the ticket's waiting purchases, once
    BATCH_LINGER_MS has let a burst gather."""
    doorbell_answer(doorbell_key(ticket_id), linger_ms=settings.BATCH_LINGER_MS)
