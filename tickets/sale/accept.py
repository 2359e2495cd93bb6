"""The accept path of `POST /api/tickets/purchase/direct/`, kept lean: it is the
request a flash sale sends by the thousand, so it does the least that is safe.

1. validate the body by hand (tickets/sale/validation.py: the same rules,
   messages and DRF error shape as `PurchaseCreateSerializer`, which stays only
   to describe the request in the OpenAPI schema);
2. store the purchase: on PostgreSQL one statement checks the ticket is on sale
   and not sold out, inserts the purchase and its "created" audit row (data-
   modifying CTEs); SQLite has none, so there the same rules run as plain ORM
   statements in one transaction;
3. once committed, give it its place in its ticket's line (tickets/sale/waiting_room.py,
   whose answer is the 202's `Retry-After`) and ring the ticket's batch doorbell
   (tickets/sale/batch.py); a worker decides it with the rest of the ticket's queue;
4. the 202 body, `PurchaseDetailSerializer`'s fields and values, built from the
   values in hand (no read back) and rendered by orjson in the view.

An `Idempotency-Key` wraps step 2 in the transaction that stores the reply
(tickets/sale/idempotency.py).
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone
from rest_framework.exceptions import Throttled, ValidationError

from project import log_context
from project.actor import current_actor
from project.throttling import RateWindow
from tickets.audit import purchase_log
from tickets.errors import TicketSoldOut, TicketUnavailable
from tickets.line import line_value
from tickets.metrics import count_accepted
from tickets.models import PurchaseEvent, Ticket, TicketPurchase
from tickets.sale import batch, caps, idempotency
from tickets.sale.bodies import purchase_body
from tickets.sale.validation import MAX_ID, purchase_input_validate
from tickets.selectors import tickets_on_sale

logger = logging.getLogger(__name__)

Status = TicketPurchase.Status
PaymentStatus = TicketPurchase.PaymentStatus

ACCEPTED = 202
IDEMPOTENCY_KEY_MAX_LENGTH = 255
REPLAY_RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class Accepted:
    status: int
    body: dict  # PurchaseDetailSerializer's shape, JSON-ready
    retry_after: int


def purchase_accept(
    *,
    data,
    key: str | None,
    user,
    client_address: str | None,
    throttle: RateWindow | None = None,
) -> Accepted:
    """Validates `data`, stores the purchase as pending (at most once per
    `key` and client) and rings its ticket's batch. Raises ValidationError,
    TicketUnavailable, TicketSoldOut, HoldLimitReached or an idempotency error,
    and Throttled once the client's `throttle` window is full: the request is
    counted in the caps' round trip before the INSERT, or, when it stores
    nothing (invalid, refused, replayed), in one of its own."""
    try:
        accepted = _accept(data, key, user, client_address, throttle)
    except Throttled:
        raise
    except Exception:
        _count(throttle)  # past the limit, 429 comes first, as DRF's throttle answered
        raise
    _count(throttle)
    return accepted


def _count(throttle: RateWindow | None) -> None:
    if throttle is not None and not throttle.counted:
        throttle.count()


def _accept(data, key: str | None, user, client_address: str | None, throttle) -> Accepted:
    purchase = purchase_input_validate(data)
    if key and len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise ValidationError(
            {"Idempotency-Key": [f"At most {IDEMPOTENCY_KEY_MAX_LENGTH} characters."]}
        )
    store = lambda: purchase_store(  # noqa: E731
        **purchase, user=user, client_address=client_address, throttle=throttle
    )
    if not key:
        body = store()
    else:
        reply = idempotency.purchase_create_idempotent(
            key=key,
            data=purchase,
            user=user,
            client_address=client_address,
            status=ACCEPTED,
            create=store,
        )
        if reply.replayed:
            _log_accepted(reply.body, "replayed")
            return Accepted(reply.status, reply.body, REPLAY_RETRY_AFTER_SECONDS)
        body = reply.body
    # Committed now: count it into the ticket's queue and wake a worker.
    retry_after = batch.batch_accepted(body["ticket_id"], body["purchase_id"])
    _log_accepted(body, "accepted")
    return Accepted(ACCEPTED, body, retry_after)


def _log_accepted(body: dict, what: str) -> None:
    # The request's one line: its id is bound, the purchase's rides in `extra`.
    purchase_id, ticket_id = body["purchase_id"], body["ticket_id"]
    logger.info(
        "purchase %s %s: %d seat(s) of ticket %s",
        purchase_id,
        what,
        body["quantity"],
        ticket_id,
        extra={"purchase_id": purchase_id, "ticket_id": str(ticket_id)},
    )


# --- Storing ----------------------------------------------------------------------------


def purchase_store(
    *,
    ticket_id: int,
    quantity: int,
    customer_name: str,
    customer_email: str,
    payment_method: str,
    customer_phone: str = "",
    payment_token: str = "",
    user=None,
    client_address: str | None = None,
    throttle: RateWindow | None = None,
) -> dict:
    """Stores a validated purchase as pending, with its "created" audit row;
    answers its 202 body (services.purchase_create wraps it for callers that
    want the model). On sale (selectors.tickets_on_sale), price and currency
    from the ticket, seats in flight capped per client and e-mail (whatever the
    token); refused as sold out when fewer seats are free than asked and no
    pending purchase holds any that could come back."""
    if ticket_id > MAX_ID:
        raise TicketUnavailable()
    now = timezone.now()
    hold = settings.PURCHASE_HOLD_SECONDS if payment_token else settings.UNPAID_HOLD_SECONDS
    purchase_id = uuid.uuid4()
    # In Redis, atomically: concurrent creates cannot all pass (tickets/sale/caps.py).
    caps.seats_claim(
        ticket_id=ticket_id,
        purchase_id=purchase_id,
        seats=quantity,
        client_address=client_address,
        email=customer_email,
        # Its polls answer from Redis while it waits in line (tickets/line.py).
        line_answer=line_value(ticket_id, now.isoformat()),
        throttle=throttle,
    )
    values = {
        "id": purchase_id,
        "ticket_id": ticket_id,
        "user_id": user.pk if user is not None and user.is_authenticated else None,
        "customer_name": customer_name,
        "customer_email": customer_email,
        "customer_phone": customer_phone,
        "quantity": quantity,
        "payment_method": payment_method,
        "payment_token": payment_token,
        "status": Status.PENDING,
        "payment_status": PaymentStatus.PENDING,
        "client_address": client_address or None,
        "request_id": log_context.request_id(),
        "hold_expires_at": now + timedelta(seconds=hold),
        "created_at": now,
        "updated_at": now,
    }
    note = f"{quantity} seat(s), {payment_method}"
    try:
        if connection.vendor == "postgresql":
            ticket = _insert_in_one_statement(values, note=note)
        else:
            ticket = _insert_with_orm(values, note=note)
    except BaseException as error:
        # Not stored: its seats are not in flight. Sold out for good: say so in Redis.
        sold_out = ticket_id if getattr(error, "none_left", False) else None
        caps.seats_release([purchase_id], sold_out_ticket=sold_out)
        raise
    count_accepted()
    name, price, currency = ticket
    values.update(unit_price=price, total_amount=price * quantity, currency=currency)
    return purchase_body(values, ticket_name=name)


def _insert_with_orm(values: dict, *, note: str) -> tuple:
    """For databases without data-modifying CTEs (SQLite): the same rules in
    one transaction, a statement each."""
    with transaction.atomic():
        ticket = (
            tickets_on_sale()
            .filter(pk=values["ticket_id"])
            .values_list("name", "price", "currency", "available_quantity")
            .first()
        )
        if ticket is None:
            raise TicketUnavailable()
        name, price, currency, free = ticket
        if free < values["quantity"] and not _seats_held(values["ticket_id"]):
            raise _sold_out(free)
        purchase = TicketPurchase.objects.create(
            **values,
            unit_price=price,
            total_amount=price * values["quantity"],
            currency=currency,
        )
        # Saving takes its own clock for the auto_now stamps: keep the ones the
        # 202 and the poll's line answer (tickets/line.py) were given, as the
        # one-statement path stores them.
        TicketPurchase.objects.filter(pk=purchase.pk).update(
            created_at=values["created_at"], updated_at=values["updated_at"]
        )
        purchase_log(purchase, "created", note=note)
    return name, price, currency


def _seats_held(ticket_id: int) -> bool:
    """Whether a pending purchase holds seats of the ticket that may come back."""
    return TicketPurchase.objects.filter(
        ticket_id=ticket_id, status=Status.PENDING, inventory_reserved=True
    ).exists()


def _insert_in_one_statement(values: dict, *, note: str) -> tuple:
    """PostgreSQL: one round trip. The `ticket` CTE is the on-sale row (the
    condition of selectors.tickets_on_sale) and whether it has room; `purchase`
    inserts only when it has; `created` is its audit row. No row back: the
    ticket is not on sale; has_room false: sold out."""
    sql, purchase_columns, event_columns = _statement()
    now = values["created_at"]
    quantity = values["quantity"]
    event = {
        "at": now,
        "action": "created",
        "to_status": Status.PENDING,
        "actor": current_actor()[:150],
        "note": note[:255],
    }
    params = [quantity, values["ticket_id"], now, now, now]
    params += _db_values(TicketPurchase, purchase_columns, values)
    params.append(quantity)  # total_amount = price * quantity
    params += _db_values(PurchaseEvent, event_columns, event)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        raise TicketUnavailable()
    name, price, currency, has_room, free = row
    if not has_room:
        raise _sold_out(free)
    return name, price, currency


def _sold_out(free: int) -> TicketSoldOut:
    error = TicketSoldOut()
    error.none_left = free == 0
    return error


def _db_values(model, fields: list, values: dict) -> list:
    """Each field's value (given, else its default) as the database takes it."""
    return [
        field.get_db_prep_save(values.get(field.attname, field.get_default()), connection)
        for field in fields
    ]


# Columns the statement fills from the ticket row or the inserted purchase, not from Python.
_FROM_TICKET = {
    "ticket": "ticket.id",
    "unit_price": "ticket.price",
    "total_amount": "ticket.price * %s",
    "currency": "ticket.currency",
}
_FROM_PURCHASE = {"ticket": "purchase.ticket_id", "purchase": "purchase.id"}


@cache
def _statement() -> tuple[str, list, list]:
    """The one statement, built once from the models' fields (a field added to
    either model is inserted with its default)."""
    purchase_fields = _insertable(TicketPurchase, _FROM_TICKET)
    event_fields = _insertable(PurchaseEvent, _FROM_PURCHASE)
    purchases, tickets = TicketPurchase._meta.db_table, Ticket._meta.db_table
    events = PurchaseEvent._meta.db_table
    pending = Status.PENDING.value
    sql = f"""
WITH ticket AS (
    SELECT t.id, t.name, t.price, t.currency, t.available_quantity,
           t.available_quantity >= %s OR EXISTS (
               SELECT 1 FROM {purchases} held
               WHERE held.ticket_id = t.id AND held.status = '{pending}'
                 AND held.inventory_reserved
           ) AS has_room
    FROM {tickets} t
    WHERE t.id = %s AND t.is_on_sale AND t.starts_at > %s
      AND (t.sale_starts_at IS NULL OR t.sale_starts_at <= %s)
      AND (t.sale_ends_at IS NULL OR t.sale_ends_at > %s)
), purchase AS (
    INSERT INTO {purchases} ({_columns(TicketPurchase, _FROM_TICKET, purchase_fields)})
    SELECT {_values(TicketPurchase, _FROM_TICKET, purchase_fields)}
    FROM ticket WHERE ticket.has_room
    RETURNING id, ticket_id
), created AS (
    INSERT INTO {events} ({_columns(PurchaseEvent, _FROM_PURCHASE, event_fields)})
    SELECT {_values(PurchaseEvent, _FROM_PURCHASE, event_fields)}
    FROM purchase
)
SELECT name, price, currency, has_room, available_quantity FROM ticket
"""
    return sql, purchase_fields, event_fields


def _insertable(model, from_sql: dict) -> list:
    """The fields given as parameters: concrete, not auto-generated ids, not from SQL."""
    return [
        field
        for field in model._meta.concrete_fields
        if field.name not in from_sql and not isinstance(field, models.AutoField)
    ]


def _columns(model, from_sql: dict, fields: list) -> str:
    names = [field.column for field in fields]
    names += [model._meta.get_field(name).column for name in from_sql]
    return ", ".join(f'"{name}"' for name in names)


def _values(model, from_sql: dict, fields: list) -> str:
    return ", ".join(["%s"] * len(fields) + list(from_sql.values()))
