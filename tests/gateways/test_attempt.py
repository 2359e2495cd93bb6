"""The one payment attempt (gateways/attempt.py), as both products use it: the
same give-up rule and the same reconcile rule, whoever owns the payment."""

import pytest

from gateways import TransientGatewayError, attempt
from gateways.attempt import Action, PaymentView
from gateways.simulated import SimulatedGateway
from payments import services as booking_services
from tests.factories import PurchaseFactory, TicketFactory
from tests.payments.factories import payment_of
from tickets.models import TicketPurchase
from tickets.sale.payment import (
    purchase_give_up_payment,
    purchase_process,
    purchase_reconcile_payment,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def spied(monkeypatch):
    """Records which of the attempt's functions are called, and with which key."""
    calls = []
    for name in ("charge", "give_up", "reconcile_plan"):
        real = getattr(attempt, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            key = kwargs.get("key") or args[0].key
            calls.append((_name, key))
            return _real(*args, **kwargs)

        monkeypatch.setattr(attempt, name, spy)
    return calls


def a_ticket_purchase(token: str):
    purchase = PurchaseFactory(ticket=TicketFactory(total_quantity=5), payment_token=token)
    key = str(purchase.pk)
    return key, {
        "process": lambda: purchase_process(purchase_id=key),
        "give_up": lambda: purchase_give_up_payment(purchase_id=key),
        "reconcile": lambda: purchase_reconcile_payment(purchase_id=key),
        "state": lambda: _purchase_state(key),
    }


def _purchase_state(key):
    purchase = TicketPurchase.objects.get(pk=key)
    return purchase.payment_status, purchase.status


def a_booking_payment(token: str):
    payment = payment_of(payment__payment_token=token)
    key = str(payment.pk)
    return key, {
        "process": lambda: booking_services.payment_process(payment_id=key),
        "give_up": lambda: booking_services.payment_give_up(payment_id=key),
        "reconcile": lambda: booking_services.payment_reconcile(payment_id=key),
        "state": lambda: _booking_state(key),
    }


def _booking_state(key):
    payment = booking_services.Payment.objects.select_related("booking").get(pk=key)
    return payment.status, payment.booking.status


PRODUCTS = {
    "ticket purchase": (a_ticket_purchase, ("completed", "confirmed")),
    "booking payment": (a_booking_payment, ("completed", "confirmed")),
}


@pytest.mark.parametrize("product", PRODUCTS)
def test_a_charge_still_pending_at_give_up_waits_then_settles(product, spied):
    make, settled = PRODUCTS[product]
    key, steps = make("tok_timeout")
    with pytest.raises(TransientGatewayError):
        steps["process"]()
    steps["give_up"]()  # the gateway holds the charge, pending: never failed blind
    assert steps["state"]() == ("processing", "pending")
    steps["reconcile"]()  # asked again before it settled: still waiting
    assert steps["state"]() == ("processing", "pending")
    SimulatedGateway().settle(key)
    steps["reconcile"]()
    assert steps["state"]() == settled
    assert SimulatedGateway().captures(key) == 1
    assert [name for name, called_key in spied if called_key == key] == [
        "charge",
        "give_up",
        "reconcile_plan",
        "reconcile_plan",
    ]


@pytest.mark.parametrize("product", PRODUCTS)
def test_a_charge_the_gateway_never_saw_fails_at_give_up(product):
    make, _ = PRODUCTS[product]
    _, steps = make("tok_error")
    with pytest.raises(TransientGatewayError):
        steps["process"]()
    steps["give_up"]()
    assert steps["state"]() == ("failed", "failed")


@pytest.mark.parametrize(
    ("view", "outcome_token", "action"),
    [
        (
            dict(awaiting_outcome=True, has_token=True, honoured=False),
            "tok_success",
            Action.CONFIRM,
        ),
        (dict(awaiting_outcome=True, has_token=True, honoured=False), "tok_decline", Action.FAIL),
        (dict(awaiting_outcome=True, has_token=True, honoured=False), "tok_pending", Action.WAIT),
        (dict(awaiting_outcome=True, has_token=True, honoured=False), None, Action.CHARGE_AGAIN),
        (dict(awaiting_outcome=True, has_token=False, honoured=False), None, Action.WAIT),
        (
            dict(awaiting_outcome=False, has_token=True, honoured=False),
            "tok_success",
            Action.REFUND,
        ),
        (
            dict(awaiting_outcome=False, has_token=True, honoured=True),
            "tok_success",
            Action.NOTHING,
        ),
        (
            dict(awaiting_outcome=False, has_token=True, honoured=False),
            "tok_decline",
            Action.NOTHING,
        ),
    ],
)
def test_the_reconcile_rule(view, outcome_token, action):
    gateway = SimulatedGateway()
    key = f"attempt-rule-{outcome_token}-{sorted(view.items())}"
    if outcome_token:
        gateway.charge(idempotency_key=key, amount=10, currency="USD", token=outcome_token)
    assert attempt.reconcile_plan(PaymentView(key=key, **view)).action == action
