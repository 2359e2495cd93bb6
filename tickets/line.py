"""The fast answer to a poll while a purchase waits in its ticket's line.

A purchase in line (pending, no seats yet) is polled every second or so by
its buyer; what the poll answers then is known without the database: it is
pending, its `updated_at` is the one stored at accept, and its place comes from
its ticket's queue hash (tickets/sale/waiting_room.py). So the accept path
writes, in the Redis round trip it makes after its INSERT, a small key per
purchase, `tickets:line:<id>` -> "<ticket id> <updated_at>", and a poll that
finds it and the purchase's place in the queue hash answers from Redis alone.

Redis is never the record: the key only says "nothing has happened to this
purchase since it joined the line". Everything that happens to a pending
purchase goes through the audit trail (tickets/audit.py), which forgets its
key once the change commits; the batch pipeline also takes its place out of
the queue hash as it decides it, and re-stamps the key of a purchase it
looked at and left in line (a new `updated_at`). A key whose forgetting was
lost (a process killed between commit and Redis) expires after
LINE_ANSWER_MAX_AGE_SECONDS: no answer from Redis is older than that, and
polls fall back to the database, which is asked whenever Redis does not know.
"""

import logging
from collections.abc import Iterable

from django.db import transaction

from project.redis_client import redis_client

logger = logging.getLogger(__name__)

PREFIX = "tickets:line:"


def line_key(purchase_id) -> str:
    return f"{PREFIX}{purchase_id}"


def line_value(ticket_id: int, updated_at_iso: str) -> str:
    return f"{ticket_id} {updated_at_iso}"


def forget_on_commit(purchase_ids: Iterable) -> None:
    """Once the transaction commits, polls of these purchases ask the database."""
    keys = [line_key(pk) for pk in purchase_ids]
    if keys:
        transaction.on_commit(lambda: _forget(keys))


def _forget(keys: list[str]) -> None:
    try:
        redis_client().delete(*keys)
    except Exception:  # their keys expire on their own (LINE_ANSWER_MAX_AGE_SECONDS)
        logger.warning("line answers not forgotten for %d purchase(s)", len(keys))


def restamp_on_commit(ticket_id: int, purchase_ids: Iterable, updated_at_iso: str) -> None:
    """Purchases still in line got a new `updated_at`: their keys follow it
    (only keys that exist, keeping their expiry)."""
    keys = [line_key(pk) for pk in purchase_ids]
    if not keys:
        return
    value = line_value(ticket_id, updated_at_iso)

    def restamp() -> None:
        try:
            pipe = redis_client().pipeline(transaction=False)
            for key in keys:
                pipe.set(key, value, xx=True, keepttl=True)
            pipe.execute()
        except Exception:
            _forget(keys)

    transaction.on_commit(restamp)
