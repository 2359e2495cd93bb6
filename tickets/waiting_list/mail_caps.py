"""Caps on the waiting list's join e-mails.

Anyone may type any address into a join, and every join e-mails that address
the link to its entry: uncapped, a join is a way to flood someone's mailbox
with our mail. So, per WAITING_LIST_MAIL_WINDOW_SECONDS, one client may ask for
at most WAITING_LIST_MAILS_PER_CLIENT joins (past it: WaitingListMailsCapped,
429 with Retry-After: the client learns only about itself), and at most
WAITING_LIST_MAILS_PER_ADDRESS join e-mails go to one address (past it nothing
is sent, and the join answers as always: whoever asks must not learn what an
address receives).

Counted in Redis like the API's throttles (project/throttling.py): a key per
client or address and fixed window, one INCR + EXPIRE in a MULTI round trip.
Addresses are hashed in the keys. These are abuse limits, not seats or money:
when Redis cannot be reached the count fails open (a warning is logged and the
e-mail goes), so an outage of the counter never refuses a buyer nor answers 500.
"""

import hashlib
import logging
import time

import redis
from django.conf import settings

from project.redis_client import redis_client
from tickets.errors import WaitingListMailsCapped

logger = logging.getLogger(__name__)

KEY_PREFIX = "tickets:wl-mails"


def client_join_count(client_address: str | None) -> None:
    """Counts a join from this client; raises WaitingListMailsCapped past the cap."""
    if not client_address:
        return
    counted = _count("client", client_address)
    if counted is not None and counted[0] > settings.WAITING_LIST_MAILS_PER_CLIENT:
        raise WaitingListMailsCapped(retry_after=counted[1])


def address_may_mail(email: str) -> bool:
    """Counts a join e-mail to this address; False past the cap (send nothing)."""
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    counted = _count("address", digest)
    return counted is None or counted[0] <= settings.WAITING_LIST_MAILS_PER_ADDRESS


def _count(kind: str, ident: str) -> tuple[int, int] | None:
    """The count of this client or address in this window after adding one, and
    the seconds left in the window; None when Redis could not be reached."""
    window = settings.WAITING_LIST_MAIL_WINDOW_SECONDS
    now = time.time()
    key = f"{KEY_PREFIX}:{kind}:{ident}:{int(now // window)}"
    try:
        pipe = redis_client().pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, window)
        count, _ = pipe.execute()
    except redis.RedisError as exc:
        logger.warning("waiting-list mail cap per %s not counted: %r; the e-mail goes", kind, exc)
        return None
    return count, max(1, int(window - now % window))
