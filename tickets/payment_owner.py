"""Ticket purchases as the gateway package sees them: registered in apps.py, so
gateway callbacks and the operators' `fix_payment_flow` reach tickets' own
services without the gateway package naming this product."""

from gateways import Dispute
from gateways.attempt import Plan
from gateways.registry import PaymentOwner, StuckPayment
from tickets import selectors
from tickets.refunds.disputes import purchase_dispute
from tickets.refunds.services import purchase_refund_finish
from tickets.sale import payment


def _reconcile(object_id: str) -> str:
    """A payment's outcome, or a refund's (a gateway says a refund moved): a
    refund asked for is finished; anything else is reconciled."""
    if selectors.purchase_refund_pending(purchase_id=object_id):
        purchase = purchase_refund_finish(purchase_id=object_id)
    else:
        purchase = payment.purchase_reconcile_payment(purchase_id=object_id)
    return f"ticket purchase {purchase.status}, payment {purchase.payment_status}"


def _stuck(minutes: int) -> list[StuckPayment]:
    stuck = selectors.purchases_stuck_in_payment(older_than_minutes=minutes)
    rows = stuck.order_by("payment_started_at").values_list("pk", "payment_started_at")
    return [StuckPayment(str(pk), started) for pk, started in rows]


def _plan(object_id: str) -> Plan:
    return payment.purchase_reconcile_plan(purchase_id=object_id)


def _settle(object_id: str) -> tuple[Plan, str]:
    plan, purchase = payment.purchase_reconcile(purchase_id=object_id)
    return plan, purchase.status


def _dispute(dispute: Dispute) -> str:
    purchase = purchase_dispute(purchase_id=dispute.key, dispute=dispute)
    return f"ticket purchase {purchase.status}, dispute {purchase.dispute}"


TICKET_PURCHASES = PaymentOwner(
    kind="ticket_purchase",
    label="ticket",
    reconcile=_reconcile,
    stuck=_stuck,
    plan=_plan,
    settle=_settle,
    dispute=_dispute,
)
