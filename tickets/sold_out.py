"""Sold out, answered from Redis: the 409 a flash sale's late buyers get
without asking the database.

The accept statement (tickets/sale/accept.py) refuses a buyer as sold out when
fewer seats are free than asked and no pending purchase holds any that could
come back. When it finds **none** free and none held, nothing the pipeline
does can change that: purchases still in line cannot take a seat, and no held
seat can come back. Only seats put back on sale from outside the line can,
and both ways in are in tickets/inventory.py (`seats_move` with seats to
sale, which refunds, expiries, cancellations and added capacity go through,
and `seats_kept_to_sale`).

So the refused create, in the Redis round trip it makes anyway to give back
its claim (tickets/sale/caps.py), marks the ticket `tickets:soldout:<id>`,
and the next creates' one round trip before their INSERT finds the mark and
answers 409 with no SQL. Seats put back on sale forget the mark once their
transaction commits. A mark that outlives its truth (set by a refusal that
read the ticket just before seats came back and committed just after they
cleared it, or a clearing lost with its process) lapses after
SOLD_OUT_ANSWER_MAX_AGE_SECONDS: no sold-out answer from Redis is older than
that. Redis is never the record: the database decides every seat.
"""

import logging

from django.db import transaction

from project.redis_client import redis_client

logger = logging.getLogger(__name__)

PREFIX = "tickets:soldout:"


def sold_out_key(ticket_id: int) -> str:
    return f"{PREFIX}{ticket_id}"


def sold_out_forget_on_commit(ticket_id: int) -> None:
    """Seats of the ticket go back on sale in this transaction: once it commits,
    creates ask the database again."""
    transaction.on_commit(lambda: _forget(ticket_id))


def _forget(ticket_id: int) -> None:
    try:
        redis_client().delete(sold_out_key(ticket_id))
    except Exception:  # the mark lapses on its own (SOLD_OUT_ANSWER_MAX_AGE_SECONDS)
        logger.warning("sold-out mark of ticket %s: could not clear it", ticket_id)
