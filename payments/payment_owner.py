"""Booking payments as the gateway package sees them: registered in apps.py, so
gateway callbacks and the operators' `fix_payment_flow` reach this product's
own services without the gateway package naming it."""

from gateways.attempt import Plan
from gateways.registry import PaymentOwner, StuckPayment
from payments import refunds, selectors, services


def _reconcile(object_id: str) -> str:
    """A payment's outcome, or a refund's (a gateway says a refund moved)."""
    if selectors.payment_refund_pending(payment_id=object_id):
        payment = refunds.payment_refund_finish(payment_id=object_id)
        return f"booking payment {payment.status}: refund asked again"
    reconciliation = services.payment_reconcile(payment_id=object_id)
    return f"booking payment {reconciliation.payment.status}: {reconciliation.action}"


def _stuck(minutes: int) -> list[StuckPayment]:
    rows = selectors.payments_stuck(older_than_minutes=minutes).order_by("processing_started_at")
    return [
        StuckPayment(str(pk), started)
        for pk, started in rows.values_list("pk", "processing_started_at")
    ]


def _plan(object_id: str) -> Plan:
    reconciliation = services.payment_reconcile_plan(payment_id=object_id)
    return Plan(reconciliation.result, reconciliation.action)


def _settle(object_id: str) -> tuple[Plan, str]:
    reconciliation = services.payment_reconcile(payment_id=object_id)
    return Plan(reconciliation.result, reconciliation.action), reconciliation.payment.status


BOOKING_PAYMENTS = PaymentOwner(
    kind="booking_payment",
    label="destination",
    reconcile=_reconcile,
    stuck=_stuck,
    plan=_plan,
    settle=_settle,
)
