"""Caps on seats in flight: one client address, and one e-mail address, may
have at most HOLD_CAP_PER_CLIENT / HOLD_CAP_PER_EMAIL seats of a ticket in
purchases that have not ended, whatever their payment token (a token the
gateway has not accepted is not a payment). A purchase is in flight from its
acceptance until it is confirmed, failed, expired or cancelled; handing over a
token with `complete/` changes nothing here.

Caps are limits against abuse, not the books: they live in Redis, where one
Lua script checks both and records the purchase atomically, so concurrent
creates cannot all pass a count taken before any of them was stored, and the
accept path takes no database lock for them. Seats and money stay in the
database.

Per ticket and holder (a client address, an e-mail) one hash maps each
purchase in flight to "<seats>:<deadline>"; a small key per purchase names
its two hashes, so ending a purchase needs only its id. Every end of a
purchase releases it after commit (`seats_release_on_commit`); an entry whose
release was lost (a worker killed between commit and release) stops counting
at its deadline, IN_FLIGHT_CAP_ENTRY_SECONDS after acceptance. With Redis
unreachable a create answers 503 with Retry-After, as every endpoint does
when the broker is down (the throttles live there too), and stores nothing.
"""

import logging
import time
from collections.abc import Iterable

import redis
from django.conf import settings
from django.db import transaction

from project.redis_client import redis_client
from project.throttling import RateWindow
from tickets.errors import HoldLimitReached, TicketSoldOut
from tickets.line import line_key
from tickets.sold_out import sold_out_key

logger = logging.getLogger(__name__)

PREFIX = "tickets:inflight"

# KEYS: the client's hash ('' when no address is known), the e-mail's hash,
# the purchase's own key, its poll's line key (tickets/line.py; '' for none),
# the request's rate window (project/throttling.py; '' for none), the
# ticket's sold-out mark (tickets/sold_out.py).
# ARGV: purchase id, seats, client cap, e-mail cap, now, deadline (epoch
# seconds), the line key's value and lifetime, the window's limit and length.
# Answers 0 (recorded), 1 (client cap), 2 (e-mail cap), 3 (throttled: the
# request is counted, nothing else) or 4 (sold out: counted, nothing else).
# Lapsed entries are dropped on the way.
# The create's one round trip before its INSERT: the throttle, the sold-out
# mark, the caps, and the line key, which so exists before any worker can
# decide the purchase and forget it.
_CLAIM = """
local function held(key, now)
  if key == '' then return 0 end
  local total = 0
  local entries = redis.call('HGETALL', key)
  for i = 1, #entries, 2 do
    local seats, deadline = string.match(entries[i + 1], '^(%d+):(%d+)$')
    if seats == nil or tonumber(deadline) <= now then
      redis.call('HDEL', key, entries[i])
    else
      total = total + tonumber(seats)
    end
  end
  return total
end
if KEYS[5] ~= '' then
  local count = redis.call('INCR', KEYS[5])
  redis.call('EXPIRE', KEYS[5], ARGV[10])
  if count > tonumber(ARGV[9]) then return 3 end
end
if redis.call('EXISTS', KEYS[6]) == 1 then return 4 end
local seats, now = tonumber(ARGV[2]), tonumber(ARGV[5])
if held(KEYS[1], now) + seats > tonumber(ARGV[3]) then return 1 end
if held(KEYS[2], now) + seats > tonumber(ARGV[4]) then return 2 end
local entry = ARGV[2] .. ':' .. ARGV[6]
local ttl = tonumber(ARGV[6]) - now
for i = 1, 2 do
  if KEYS[i] ~= '' then
    redis.call('HSET', KEYS[i], ARGV[1], entry)
    redis.call('EXPIRE', KEYS[i], ttl)
  end
end
redis.call('SET', KEYS[3], KEYS[1] .. '\\n' .. KEYS[2], 'EX', ttl)
if KEYS[4] ~= '' then redis.call('SET', KEYS[4], ARGV[7], 'EX', ARGV[8]) end
return 0
"""

# KEYS: a ticket's sold-out mark to set, or none. ARGV: the mark's lifetime,
# then purchase ids. Each purchase's key names its hashes; the purchase leaves
# both. An id never recorded (a waiting-list offer's purchase) changes nothing.
_RELEASE = (
    """
if #KEYS == 1 then redis.call('SET', KEYS[1], '1', 'EX', ARGV[1]) end
for i = 2, #ARGV do
  local purchase = ARGV[i]
  local own = '"""
    + PREFIX
    + """:p:' .. purchase
  local holders = redis.call('GET', own)
  if holders then
    for key in string.gmatch(holders, '[^\\n]+') do
      redis.call('HDEL', key, purchase)
    end
    redis.call('DEL', own)
  end
end
return 0
"""
)

_WHO = {1: "this client", 2: "this e-mail address"}
THROTTLED = 3
SOLD_OUT = 4


def seats_claim(
    *,
    ticket_id: int,
    purchase_id,
    seats: int,
    client_address: str | None,
    email: str,
    line_answer: str = "",
    throttle: RateWindow | None = None,
) -> None:
    """Records `seats` of a purchase about to be stored as in flight for its
    client and its e-mail, or raises HoldLimitReached (nothing recorded) when
    either would pass its cap. Release it if the purchase is not stored. With
    `line_answer` (tickets/line.py), its poll's fast answer is stored too; with
    `throttle`, the request is counted in its window first, and Throttled is
    raised (nothing recorded) past its limit. TicketSoldOut (nothing recorded)
    while the ticket is marked sold out (tickets/sold_out.py)."""
    now = int(time.time())
    keys = [
        f"{PREFIX}:{ticket_id}:c:{client_address}" if client_address else "",
        f"{PREFIX}:{ticket_id}:e:{email.strip().lower()}",
        _own_key(purchase_id),
        line_key(purchase_id) if line_answer else "",
        throttle.key if throttle else "",
        sold_out_key(ticket_id),
    ]
    args = [
        str(purchase_id),
        seats,
        settings.HOLD_CAP_PER_CLIENT,
        settings.HOLD_CAP_PER_EMAIL,
        now,
        now + settings.IN_FLIGHT_CAP_ENTRY_SECONDS,
        line_answer,
        settings.LINE_ANSWER_MAX_AGE_SECONDS,
        throttle.limit if throttle else 0,
        throttle.seconds if throttle else 0,
    ]
    refused = int(_script(_CLAIM)(keys=keys, args=args))
    if throttle:
        throttle.counted = True
        if refused == THROTTLED:
            raise throttle.refuse()
    if refused == SOLD_OUT:
        raise TicketSoldOut()
    if refused:
        cap = settings.HOLD_CAP_PER_CLIENT if refused == 1 else settings.HOLD_CAP_PER_EMAIL
        raise HoldLimitReached(
            f"{_WHO[refused]} already has seats of this ticket in purchases not yet"
            f" finished (at most {cap} at a time): wait until they are paid or ended."
        )


def seats_release(purchase_ids: Iterable, *, sold_out_ticket: int | None = None) -> None:
    """The purchases ended (or were never stored): their seats stop counting.
    With `sold_out_ticket`, in the same round trip, that ticket is marked sold
    out (tickets/sold_out.py). Never raises."""
    ids = [str(purchase_id) for purchase_id in purchase_ids]
    if not ids:
        return
    keys = [sold_out_key(sold_out_ticket)] if sold_out_ticket is not None else []
    try:
        _script(_RELEASE)(keys=keys, args=[settings.SOLD_OUT_ANSWER_MAX_AGE_SECONDS, *ids])
    except redis.RedisError:
        # Their entries lapse at their deadline instead.
        logger.warning("in-flight caps: could not release %s", ", ".join(ids))


def seats_release_on_commit(purchase_ids: Iterable) -> None:
    """For a transaction that ends purchases: released once it commits."""
    ids = [str(purchase_id) for purchase_id in purchase_ids]
    if ids:
        transaction.on_commit(lambda: seats_release(ids))


def _own_key(purchase_id) -> str:
    return f"{PREFIX}:p:{purchase_id}"


_scripts: dict = {}


def _script(source: str):
    """The script registered on this process's client (EVALSHA, loaded once)."""
    client = redis_client()
    registered = _scripts.get((id(client), source))
    if registered is None:
        registered = _scripts[(id(client), source)] = client.register_script(source)
    return registered
