"""Fast renderings of the hot endpoints.

Plain dicts with what the serializers (tickets/sale/serializers.py) would
answer, for the two requests a flash sale sends by the thousand (create and
poll): no serializer machinery. tests/tickets/sale/test_accept.py holds them
equal to the serializers' output.
"""

from datetime import datetime
from decimal import Decimal

from django.utils import timezone

CENTS = Decimal("0.01")


def iso_datetime(value: datetime | None) -> str | None:
    """As DRF's DateTimeField writes it: the current time zone, UTC as `Z`."""
    if value is None:
        return None
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def money(value: Decimal) -> str:
    """As a DecimalField with two places writes it (COERCE_DECIMAL_TO_STRING)."""
    return f"{value.quantize(CENTS):f}"


def purchase_body(values: dict, *, ticket_name: str) -> dict:
    """PurchaseDetailSerializer's output for a purchase just accepted, from the
    values it was stored with (`ticket_id`, `unit_price`, ... by attribute name)."""
    return {
        "purchase_id": str(values["id"]),
        "ticket": ticket_name,
        "ticket_id": values["ticket_id"],
        "customer_name": values["customer_name"],
        "customer_email": values["customer_email"],
        "customer_phone": values["customer_phone"],
        "quantity": values["quantity"],
        "unit_price": money(values["unit_price"]),
        "total_amount": money(values["total_amount"]),
        "currency": values["currency"],
        "payment_method": values["payment_method"],
        "status": str(values["status"]),
        "payment_status": str(values["payment_status"]),
        "failure_reason": None,
        "ticket_codes": [],
        "created_at": iso_datetime(values["created_at"]),
        "updated_at": iso_datetime(values["updated_at"]),
        "confirmed_at": None,
        "completed_at": None,
        "hold_expires_at": iso_datetime(values["hold_expires_at"]),
    }


def purchase_status_body(
    row: dict, *, queue_position=None, estimated_wait_seconds=None, waiting_list=None
) -> dict:
    """PurchaseStatusSerializer's output for a selectors.purchase_status row and
    its place in the ticket's line (tickets/backlog.waiting_room)."""
    return {
        "purchase_id": str(row["id"]),
        "status": row["status"],
        "payment_status": row["payment_status"],
        "failure_reason": row["failure_reason"],
        "updated_at": iso_datetime(row["updated_at"]),
        "queue_position": queue_position,
        "estimated_wait_seconds": estimated_wait_seconds,
        "waiting_list": waiting_list,
        "client_secret": client_secret(row),
    }


def waiting_row(purchase_id, in_line) -> dict:
    """selectors.purchase_status's row for a purchase Redis knows is waiting in
    line (waiting_room.in_line): nothing has happened to it since it was stored
    pending, so its row is what the accept path stored."""
    return {
        "id": purchase_id,
        "status": "pending",
        "payment_status": "pending",
        "failure_reason": None,
        "updated_at": in_line.updated_at,
        "ticket_id": in_line.ticket_id,
        "inventory_reserved": False,
        "payment_client_secret": "",
    }


def client_secret(row: dict) -> str | None:
    """The gateway's secret for authenticating the payment (3-D Secure), only
    while it waits for the buyer: the holder of the purchase id needs it."""
    if row["payment_status"] != "requires_action":
        return None
    return row.get("payment_client_secret") or None
