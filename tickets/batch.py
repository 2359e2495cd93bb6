"""The batched pipeline: a ticket's pending purchases are decided together.

A purchase does not get a task of its own. Its commit rings its ticket's
doorbell (project/queue.py: one waiting message per ticket at most), and the
worker that answers it claims up to BATCH_SIZE pending purchases of the ticket
(FOR UPDATE SKIP LOCKED, so several workers share a queue without waiting on
each other), then:

1. reserve: one transaction locks the ticket row, takes the seats of every
   purchase that fits with one conditional UPDATE and marks the rest failed
   (sold out) in bulk;
2. charge: one gateway round trip for the batch, no transaction open;
3. settle: one transaction confirms the captured purchases in bulk (one
   multi-row INSERT of their codes), fails the declined ones and gives their
   seats back; a purchase whose charge hit a transient error goes to the
   per-purchase task (tickets/services.py), which owns the retry policy.

Every step is idempotent (rows are re-checked under lock), and the sweeps
re-ring for purchases that waited too long, so a lost doorbell costs latency,
never a purchase.
"""

from django.conf import settings

from project.queue import ring, ring_on_commit

BATCH_TASK = "tickets.process_ticket_batch"


def _doorbell_key(ticket_id: int) -> str:
    return f"ticket-batch:{ticket_id}"


def batch_ring(ticket_id: int) -> bool:
    """Rings the ticket's batch now (the purchase must be committed)."""
    return ring(
        BATCH_TASK,
        ticket_id,
        key=_doorbell_key(ticket_id),
        hold_seconds=settings.BATCH_DOORBELL_SECONDS,
    )


def batch_ring_on_commit(ticket_id: int) -> None:
    ring_on_commit(
        BATCH_TASK,
        ticket_id,
        key=_doorbell_key(ticket_id),
        hold_seconds=settings.BATCH_DOORBELL_SECONDS,
    )
