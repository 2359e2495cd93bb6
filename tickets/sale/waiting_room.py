"""The ticket's queue of undecided purchases: where a purchase stands in it,
how fast it drains, and so when a poller should ask again (`Retry-After`) and
what the waiting room shows (`queue_position`, `estimated_wait_seconds`).

Per ticket, in one Redis hash: two counters and a rate, `accepted` (the
accept path adds one per purchase), `decided` (the batch pipeline adds what it
decided) and `rate` (purchases decided per second, a moving average); and a
place per waiting purchase, `p:<purchase id>` -> its number in the ticket's
line (the value of `accepted` it got), removed once decided. One hash, so a
poll reads all it needs with one HMGET. The batch pipeline decides oldest first, so the purchases
ahead of number n and not yet decided are n - 1 - decided: O(1) per poll,
never a COUNT over the queue. Purchases decided elsewhere (the per-purchase
path, expiry) would make `decided` drift, so the pipeline sets decided =
accepted whenever it finds the queue empty.
"""

import logging
import math
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from project.polling import POLL_INTERVAL_SECONDS
from project.redis_client import redis_client
from tickets.line import line_key
from tickets.models import TicketPurchase

logger = logging.getLogger(__name__)

RETRY_AFTER_MIN_SECONDS = 1
# The share of the newest batch in the drain rate's moving average.
RATE_WEIGHT = 0.3
KEY_TTL_SECONDS = 24 * 3600


QUEUE_PREFIX = "tickets:queue:"


def _key(ticket_id: int) -> str:
    return f"{QUEUE_PREFIX}{ticket_id}"


def _place_field(purchase_id) -> str:
    return f"p:{purchase_id}"


# Takes the next number in the ticket's line for a purchase and answers it with
# the queue's state: one round trip, and no two purchases get the same number.
_JOIN_LINE = """
local number = redis.call('HINCRBY', KEYS[1], 'accepted', 1)
redis.call('HSET', KEYS[1], ARGV[1], number)
redis.call('EXPIRE', KEYS[1], ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'decided', 'rate')
return {number, state[1], state[2]}
"""

# A poll's fast answer: the purchase's line key names its ticket; its place must
# still be in that ticket's queue hash. Answers false when either is gone. (The
# queue's key is built here from the line key's value: one Redis, not a cluster.)
_LINE_ANSWER = """
local line = redis.call('GET', KEYS[1])
if not line then return false end
local ticket, updated = string.match(line, '^(%d+) (.+)$')
if not ticket then return false end
local state = redis.call('HMGET', ARGV[2] .. ticket, 'accepted', 'decided', 'rate', ARGV[1])
if not state[4] then return false end
return {ticket, updated, state[1], state[2], state[3], state[4]}
"""


def retry_after_seconds(depth: int, rate: float) -> int:
    """Seconds until a purchase `depth` places back can be decided at `rate`/s."""
    if depth <= 0 or rate <= 0:
        return RETRY_AFTER_MIN_SECONDS
    wait = math.ceil(depth / rate)
    return max(RETRY_AFTER_MIN_SECONDS, min(settings.QUEUE_POLL_MAX_SECONDS, wait))


def _retry_after(accepted, decided, rate) -> int:
    return retry_after_seconds(int(accepted or 0) - int(decided or 0), float(rate or 0))


def note_accepted(ticket_id: int, purchase_id) -> int:
    """A purchase joined the queue: returns the Retry-After for it (one round trip).
    Never raises: without Redis the answer is the shortest wait."""
    try:
        pipe = redis_client().pipeline(transaction=False)
        queue_accepted(pipe, ticket_id, purchase_id)
        results = pipe.execute()
    except Exception:
        logger.warning("ticket %s: queue counters unavailable", ticket_id, exc_info=True)
        results = None
    return retry_after_accepted(results)


def queue_accepted(pipe, ticket_id: int, purchase_id) -> None:
    """Queues on `pipe` what note_accepted sends, for a caller that has more to
    send in the same round trip; `retry_after_accepted` reads the answers."""
    pipe.eval(_JOIN_LINE, 1, _key(ticket_id), _place_field(purchase_id), KEY_TTL_SECONDS)


def retry_after_accepted(results: list | None) -> int:
    if not results:  # Redis could not be reached: the shortest wait
        return RETRY_AFTER_MIN_SECONDS
    [(number, decided, rate)] = results
    return _retry_after(number, decided, rate)


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


@dataclass(frozen=True)
class Place:
    """Where a purchase stands: `position`, how many purchases accepted before it
    are not yet decided; `wait_seconds`, when it should be decided at the
    measured rate (None until a rate is measured); both None once decided."""

    position: int | None
    wait_seconds: int | None
    retry_after: int


DECIDED = Place(None, None, POLL_INTERVAL_SECONDS)


def waiting_room(status_row: dict) -> Place:
    """A purchase's place in its ticket's line (selectors.purchase_status's row),
    in one round trip while it waits; once seated or final, no Redis at all and
    the usual poll interval."""
    waiting = status_row["status"] == TicketPurchase.Status.PENDING
    if not waiting or status_row["inventory_reserved"]:
        return DECIDED
    ticket_id = status_row["ticket_id"]
    try:
        accepted, decided, rate, number = redis_client().hmget(
            _key(ticket_id), "accepted", "decided", "rate", _place_field(status_row["id"])
        )
    except Exception:
        logger.warning("ticket %s: queue counters unavailable", ticket_id, exc_info=True)
        return Place(None, None, RETRY_AFTER_MIN_SECONDS)
    # A purchase that joined without a number (Redis was away at its accept)
    # counts as the last in line.
    return _place(int(number or accepted or 0), decided, rate)


def _place(number: int, decided, rate) -> Place:
    ahead = max(0, number - 1 - int(decided or 0))
    rate = float(rate or 0)
    wait = math.ceil((ahead + 1) / rate) if rate > 0 else None
    return Place(ahead, wait, retry_after_seconds(ahead + 1, rate))


@dataclass(frozen=True)
class InLine:
    """A purchase still waiting in line, as Redis knows it (tickets/line.py)."""

    ticket_id: int
    updated_at: datetime
    place: Place


def in_line(purchase_id) -> InLine | None:
    """The poll's answer without the database, in one round trip: None when
    Redis does not know the purchase as waiting in line (decided, touched since
    it joined, its key expired, or Redis away), and the caller asks the database."""
    try:
        answer = _line_script()(
            keys=[line_key(purchase_id)], args=[_place_field(purchase_id), QUEUE_PREFIX]
        )
    except Exception:
        logger.warning("purchase %s: line answer unavailable", purchase_id, exc_info=True)
        return None
    if not answer:
        return None
    ticket, updated, _accepted, decided, rate, number = answer
    return InLine(
        int(ticket),
        datetime.fromisoformat(updated.decode()),
        _place(int(number), decided, rate),
    )


_line_scripts: dict = {}


def _line_script():
    """Registered once per client (EVALSHA after the first call)."""
    client = redis_client()
    script = _line_scripts.get(id(client))
    if script is None:
        script = _line_scripts[id(client)] = client.register_script(_LINE_ANSWER)
    return script


def note_decided(
    ticket_id: int, *, count: int, seconds: float, drained: bool, purchase_ids=()
) -> None:
    """The pipeline decided `count` purchases (`purchase_ids`, which leave the
    line) in `seconds`; `drained` when it found no more waiting (the counters
    are re-aligned)."""
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
        if purchase_ids:
            pipe.hdel(key, *(_place_field(pk) for pk in purchase_ids))
        results = pipe.execute()
        if drained:
            client.hset(key, "decided", int(results[1] or 0))
    except Exception:
        logger.warning("ticket %s: queue counters not updated", ticket_id, exc_info=True)
