"""How long a ticket's queue of undecided purchases is, and how fast it drains,
so a poller can be told when its purchase can be decided (`Retry-After`).

Two counters and a rate per ticket in one Redis hash: `accepted` (the accept
path adds one per purchase), `decided` (the batch pipeline adds what it
decided) and `rate` (purchases decided per second, a moving average). Depth is
accepted - decided: O(1), never a COUNT over the queue. Purchases decided
elsewhere (the per-purchase path, expiry) would make it drift, so the pipeline
sets decided = accepted whenever it finds the queue empty.
"""

import logging
import math

from project.polling import POLL_INTERVAL_SECONDS
from project.redis_client import redis_client
from tickets.models import TicketPurchase

logger = logging.getLogger(__name__)

RETRY_AFTER_MIN_SECONDS = 1
RETRY_AFTER_MAX_SECONDS = 30
# The share of the newest batch in the drain rate's moving average.
RATE_WEIGHT = 0.3
KEY_TTL_SECONDS = 24 * 3600


def _key(ticket_id: int) -> str:
    return f"tickets:queue:{ticket_id}"


def retry_after_seconds(depth: int, rate: float) -> int:
    """Seconds until a purchase `depth` places back can be decided at `rate`/s."""
    if depth <= 0 or rate <= 0:
        return RETRY_AFTER_MIN_SECONDS
    wait = math.ceil(depth / rate)
    return max(RETRY_AFTER_MIN_SECONDS, min(RETRY_AFTER_MAX_SECONDS, wait))


def _retry_after(accepted, decided, rate) -> int:
    return retry_after_seconds(int(accepted or 0) - int(decided or 0), float(rate or 0))


def note_accepted(ticket_id: int) -> int:
    """A purchase joined the queue: returns the Retry-After for it (one round trip).
    Never raises: without Redis the answer is the shortest wait."""
    try:
        pipe = redis_client().pipeline(transaction=False)
        queue_accepted(pipe, ticket_id)
        results = pipe.execute()
    except Exception:
        logger.warning("ticket %s: queue counters unavailable", ticket_id, exc_info=True)
        results = None
    return retry_after_accepted(results)


def queue_accepted(pipe, ticket_id: int) -> None:
    """Queues on `pipe` what note_accepted sends, for a caller that has more to
    send in the same round trip; `retry_after_accepted` reads the answers."""
    pipe.hincrby(_key(ticket_id), "accepted", 1)
    pipe.hmget(_key(ticket_id), "decided", "rate")
    pipe.expire(_key(ticket_id), KEY_TTL_SECONDS)


def retry_after_accepted(results: list | None) -> int:
    if not results:  # Redis could not be reached: the shortest wait
        return RETRY_AFTER_MIN_SECONDS
    accepted, (decided, rate), _ = results
    return _retry_after(accepted, decided, rate)


def retry_after(ticket_id: int) -> int:
    """The wait for a purchase still in the ticket's queue (one round trip)."""
    try:
        accepted, decided, rate = redis_client().hmget(
            _key(ticket_id), "accepted", "decided", "rate"
        )
    except Exception:
        logger.warning("ticket %s: queue counters unavailable", ticket_id, exc_info=True)
        return RETRY_AFTER_MIN_SECONDS
    return _retry_after(accepted, decided, rate)


def queue_depth(ticket_id: int) -> tuple[int, float]:
    """How many of the ticket's purchases wait to be decided, and how many the
    pipeline decides per second (both 0 when unknown). One round trip."""
    try:
        accepted, decided, rate = redis_client().hmget(
            _key(ticket_id), "accepted", "decided", "rate"
        )
    except Exception:
        logger.warning("ticket %s: queue counters unavailable", ticket_id, exc_info=True)
        return 0, 0.0
    return max(0, int(accepted or 0) - int(decided or 0)), float(rate or 0)


def poll_after(status_row: dict) -> int:
    """When a poller should ask again about a purchase (selectors.purchase_status's
    row): while it waits in its ticket's queue, as long as the queue takes to
    reach it; once seated, the usual poll interval."""
    waiting = status_row["status"] == TicketPurchase.Status.PENDING
    if waiting and not status_row["inventory_reserved"]:
        return retry_after(status_row["ticket_id"])
    return POLL_INTERVAL_SECONDS


def note_decided(ticket_id: int, *, count: int, seconds: float, drained: bool) -> None:
    """The pipeline decided `count` purchases in `seconds`; `drained` when it
    found no more waiting (the counters are re-aligned)."""
    client = redis_client()
    key = _key(ticket_id)
    try:
        rate = float(client.hget(key, "rate") or 0)
        batch_rate = count / max(seconds, 0.001)
        rate = batch_rate if rate <= 0 else (1 - RATE_WEIGHT) * rate + RATE_WEIGHT * batch_rate
        pipe = client.pipeline(transaction=False)
        pipe.hset(key, "rate", f"{rate:.3f}")
        if drained:
            pipe.hget(key, "accepted")
        else:
            pipe.hincrby(key, "decided", count)
        pipe.expire(key, KEY_TTL_SECONDS)
        results = pipe.execute()
        if drained:
            client.hset(key, "decided", int(results[1] or 0))
    except Exception:
        logger.warning("ticket %s: queue counters not updated", ticket_id, exc_info=True)
