"""The auditor: after the fault, reads the stack's database and the gateway's
records directly and lists every way the sale went wrong.

Tables are Django's defaults for the tickets app; the checks are the spec's
invariants for one ticket: every buyer holds exactly one purchase, completed,
with its one code; seats sold equals buyers; no code twice; one capture per
purchase at the gateway and none besides.
"""

import json
import time

import psycopg
import redis

from gateways.simulated import KEY_PREFIX
from tests.faults.buyers import Buyer

FINAL_STATUSES = ("completed", "failed", "expired", "cancelled", "refunded")


def _purchases(conn: psycopg.Connection, ticket_id: int) -> list[dict]:
    cursor = conn.execute(
        "SELECT id::text, customer_email, quantity, status, payment_status, failure_reason,"
        " completed_at FROM tickets_ticketpurchase WHERE ticket_id = %s ORDER BY created_at",
        (ticket_id,),
    )
    columns = [c.name for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def unfinished(database_url: str, ticket_id: int) -> int:
    """Purchases of the ticket not yet final: the work a fault now can lose."""
    with psycopg.connect(database_url, connect_timeout=3) as conn:
        return sum(r["status"] not in FINAL_STATUSES for r in _purchases(conn, ticket_id))


def wait_until_settled(database_url: str, ticket_id: int, buyers: list[Buyer], timeout: float):
    """Polls until every buyer has a purchase and every purchase is final; returns
    (purchases, seconds waited). On timeout returns what is there."""
    started = time.monotonic()
    emails = {b.email for b in buyers}
    rows: list[dict] = []
    while True:
        try:
            with psycopg.connect(database_url, connect_timeout=3) as conn:
                rows = _purchases(conn, ticket_id)
        except psycopg.OperationalError:
            pass  # still coming back: keep polling
        settled = emails <= {r["customer_email"] for r in rows} and all(
            r["status"] in FINAL_STATUSES for r in rows
        )
        waited = time.monotonic() - started
        if settled or waited > timeout:
            return rows, waited
        time.sleep(0.5)


def audit_sale(
    *, database_url: str, gateway_redis_url: str, ticket_id: int, buyers: list[Buyer]
) -> list[str]:
    problems: list[str] = []
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        purchases = _purchases(conn, ticket_id)
        total, available, kept_for_waiting_list = conn.execute(
            "SELECT total_quantity, available_quantity, offered_quantity + list_held_quantity"
            " FROM tickets_ticket WHERE id = %s",
            (ticket_id,),
        ).fetchone()
        codes = conn.execute(
            "SELECT c.code, c.status, c.purchase_id::text FROM tickets_ticketcode c"
            " JOIN tickets_ticketpurchase p ON p.id = c.purchase_id WHERE p.ticket_id = %s",
            (ticket_id,),
        ).fetchall()

    by_email: dict[str, list[dict]] = {}
    for purchase in purchases:
        by_email.setdefault(purchase["customer_email"], []).append(purchase)
    for buyer in buyers:
        held = by_email.pop(buyer.email, [])
        if len(held) != 1:
            states = [(p["id"], p["status"]) for p in held]
            problems.append(f"buyer {buyer.n} holds {len(held)} purchases, not 1: {states}")
        elif buyer.purchase_id and held[0]["id"] != buyer.purchase_id:
            problems.append(
                f"buyer {buyer.n} was answered purchase {buyer.purchase_id} "
                f"but holds {held[0]['id']}"
            )
    for email, strays in by_email.items():
        problems.append(f"{len(strays)} purchase(s) nobody was sold: {email} {strays}")

    unfinished = [p for p in purchases if p["status"] != "completed" or not p["completed_at"]]
    for p in unfinished:
        problems.append(
            f"purchase {p['id']} ({p['customer_email']}) ended {p['status']}/"
            f"{p['payment_status']} (failure_reason {p['failure_reason']}), not completed"
        )
    not_paid = [p["id"] for p in purchases if p["payment_status"] != "completed"]
    if not_paid:
        problems.append(f"{len(not_paid)} purchase(s) without a completed payment: {not_paid}")

    sold = total - available - kept_for_waiting_list
    if not 0 <= available <= total:
        problems.append(f"inventory out of bounds: available {available} of {total}")
    if sold != len(buyers):
        problems.append(f"{sold} seats sold for {len(buyers)} buyers")

    code_values = [code for code, _, _ in codes]
    if len(code_values) != len(buyers) or len(set(code_values)) != len(code_values):
        problems.append(
            f"{len(code_values)} codes ({len(set(code_values))} distinct) for {len(buyers)} buyers"
        )
    per_purchase: dict[str, int] = {}
    for _, state, purchase_id in codes:
        per_purchase[purchase_id] = per_purchase.get(purchase_id, 0) + 1
        if state != "valid":
            problems.append(f"code of purchase {purchase_id} is {state}")
    for p in purchases:
        if per_purchase.get(p["id"], 0) != p["quantity"]:
            problems.append(
                f"purchase {p['id']} has {per_purchase.get(p['id'], 0)} codes for "
                f"quantity {p['quantity']}"
            )

    problems += _gateway_problems(gateway_redis_url, [p["id"] for p in purchases], len(buyers))
    return problems


def _gateway_problems(gateway_redis_url: str, purchase_ids: list[str], buyers: int) -> list[str]:
    """Money taken: one capture per purchase, and none for anything else."""
    client = redis.Redis.from_url(gateway_redis_url, socket_timeout=5)
    captured = []
    for key in client.scan_iter(f"{KEY_PREFIX}:charge:*"):
        raw = client.get(key)
        if raw and json.loads(raw).get("outcome") == "captured":
            captured.append(key.decode())
    problems = []
    if len(captured) != buyers:
        problems.append(f"{len(captured)} captures at the gateway for {buyers} buyers")
    for purchase_id in purchase_ids:
        matching = [key for key in captured if purchase_id in key]
        if len(matching) != 1:
            problems.append(f"purchase {purchase_id} has {len(matching)} captures at the gateway")
    return problems


def sale_verdict(
    *,
    stack,
    sale,
    database_url: str,
    gateway_redis_url: str,
    ticket_id: int,
    settle_timeout: float = 60.0,
) -> tuple[list[str], float]:
    """Everything wrong with a sale once it has settled (or given up settling),
    and how long settling took."""
    problems = sale.problems()
    _, waited = wait_until_settled(database_url, ticket_id, sale.buyers, settle_timeout)
    problems += audit_sale(
        database_url=database_url,
        gateway_redis_url=gateway_redis_url,
        ticket_id=ticket_id,
        buyers=sale.buyers,
    )
    for name, code in stack.exited().items():
        problems.append(f"the stack's {name} process died (exit code {code})")
    return problems, waited


def explain(problems: list[str], sale, limit: int = 40) -> str:
    shown = problems[:limit]
    if len(problems) > limit:
        shown.append(f"... and {len(problems) - limit} more")
    return "\n".join([*shown, f"answers seen by the buyers: {sale.answer_summary()}"])
