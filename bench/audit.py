"""What the database says after a run: read, never written.

Checks the spec's invariants for the bench ticket: seats sold == min(accepted,
seats), nothing oversold, every sold purchase has exactly `quantity` unique
codes, no purchase left non-final, total - available == seats held by
purchases with `inventory_reserved` + seats offered to the waiting list + seats
kept for it, the offered seats == the seats of the open offers, and no
destination `Payment` touched.

Buyers answered 409 `sold_out` are answered, not lost: the audit checks that
nothing was stored for them and that the ticket really sold out (every buyer
pays with `tok_success`, so no held seat can come back).
"""

from django.db.models import Count, F, Q, Sum

from bench.report import PurchaseTimes
from payments.models import Payment
from tickets import ledger
from tickets.models import Ticket, TicketCode, TicketPurchase, WaitingListEntry

Status = TicketPurchase.Status
SOLD = (Status.CONFIRMED, Status.COMPLETED)


def purchase_times(ticket_id: int) -> dict[str, PurchaseTimes]:
    """Server-side timestamps of every purchase of the ticket, by purchase id."""
    rows = TicketPurchase.objects.filter(ticket_id=ticket_id).values_list(
        "id", "status", "created_at", "confirmed_at", "completed_at", "updated_at"
    )
    times = {}
    for pk, status, created, confirmed, completed, updated in rows:
        final = status in TicketPurchase.FINAL_STATUSES
        times[str(pk)] = PurchaseTimes(
            status=status,
            created_at=created.timestamp(),
            confirmed_at=confirmed.timestamp() if confirmed else None,
            final_at=(completed or updated).timestamp() if final else None,
        )
    return times


def audit(
    *, ticket_id: int, accepted_ids: set[str], payments_before: int, sold_out_emails: set[str]
) -> dict:
    ticket = Ticket.objects.get(pk=ticket_id)
    purchases = TicketPurchase.objects.filter(ticket_id=ticket_id)
    counts = purchases.values("status").annotate(n=Count("id")).order_by()
    by_status = {row["status"]: row["n"] for row in counts}
    sold = purchases.filter(status__in=SOLD).aggregate(n=Sum("quantity"))["n"] or 0
    reserved = purchases.filter(inventory_reserved=True).aggregate(n=Sum("quantity"))["n"] or 0
    holding = (
        purchases.filter(
            Q(status__in=SOLD) | Q(status=Status.PENDING, inventory_reserved=True)
        ).aggregate(n=Sum("quantity"))["n"]
        or 0
    )
    codes = TicketCode.objects.filter(purchase__ticket_id=ticket_id)
    code_count = codes.count()
    distinct_codes = codes.values("code").distinct().count()
    wrong_code_counts = (
        purchases.filter(status__in=SOLD)
        .annotate(n=Count("codes"))
        .exclude(n=F("quantity"))
        .count()
    )
    db_ids = {str(pk) for pk in purchases.values_list("id", flat=True)}
    non_final = purchases.exclude(status__in=TicketPurchase.FINAL_STATUSES).count()
    missing = len(accepted_ids - db_ids)
    expected_sold = min(len(accepted_ids), ticket.total_quantity)
    # Seats offered to waiting-list entries, or kept for the line, are held too.
    for_waiting_list = ticket.offered_quantity + ticket.list_held_quantity
    taken = ticket.total_quantity - ticket.available_quantity - for_waiting_list
    open_offers = (
        WaitingListEntry.objects.filter(
            ticket_id=ticket_id, state=WaitingListEntry.State.OFFERED
        ).aggregate(n=Sum("quantity"))["n"]
        or 0
    )
    sold_out_stored = purchases.filter(customer_email__in=sold_out_emails).count()
    checks = {
        "seats_sold_equals_min_accepted_seats": sold == expected_sold,
        "available_is_zero_when_sold_out": (
            ticket.available_quantity == 0
            if len(accepted_ids) >= ticket.total_quantity
            else ticket.available_quantity == ticket.total_quantity - sold
        ),
        "codes_unique": code_count == distinct_codes,
        "codes_match_quantity": wrong_code_counts == 0,
        "no_purchase_non_final": non_final == 0,
        "inventory_matches_reserved": taken == reserved,
        "inventory_matches_holding": taken == holding,
        "offered_seats_match_open_offers": ticket.offered_quantity == open_offers,
        # The equation the beat checks for the metrics page (tickets/ledger.py).
        "inventory_equation_holds": ledger.balance(ticket_id).adds_up,
        "every_accepted_purchase_stored": missing == 0,
        "no_destination_payment_touched": Payment.objects.count() == payments_before,
        "sold_out_answers_stored_nothing": sold_out_stored == 0,
        "sold_out_answered_only_when_sold_out": (
            not sold_out_emails or sold == ticket.total_quantity
        ),
    }
    return {
        "ticket_id": ticket_id,
        "seats": ticket.total_quantity,
        "available_quantity": ticket.available_quantity,
        "accepted": len(accepted_ids),
        "sold_out_at_accept": len(sold_out_emails),
        "sold_out_but_stored": sold_out_stored,
        "purchases_in_db": len(db_ids),
        "by_status": by_status,
        "seats_sold": sold,
        "expected_sold": expected_sold,
        "reserved_quantity": reserved,
        "offered_quantity": ticket.offered_quantity,
        "list_held_quantity": ticket.list_held_quantity,
        "open_offer_seats": open_offers,
        "codes": code_count,
        "distinct_codes": distinct_codes,
        "non_final": non_final,
        "missing_accepted": missing,
        "not_accepted_but_stored": len(db_ids - accepted_ids),
        "oversold": max(0, sold - ticket.total_quantity, code_count - ticket.total_quantity),
        "lost": missing + non_final,
        "checks": checks,
        "ok": all(checks.values()),
    }
