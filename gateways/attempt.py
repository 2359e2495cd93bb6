"""One payment attempt, written once for every product that takes money.

A product (a ticket purchase, a destination booking) keys each payment at the
gateway by its own id, and calls these small functions in the same order:

1. `charge`: charge the token under the idempotency key, so a retried or
   redelivered task never captures twice. A `TransientGatewayError` goes back
   to the task, which retries it with backoff (workers/policy.py).
2. `give_up`: after the last retry, ask the gateway what it holds before
   deciding. One rule for everybody: a charge it still reports as pending is
   left processing for the stuck sweep to ask again, never failed blind.
3. `reconcile_plan`: when a payment is stuck, or a callback arrives, ask the
   gateway for the real outcome and say what it means for the product's object.
   A charge still waiting for its buyer (3-D Secure) when the object ended is
   cancelled (`abandon`).
4. `refund`: the money goes back, under the refund's own key; its outcome is
   refunded, pending, definitely not refunded, or unknown (a transient error),
   and only "definitely not" lets the product undo. `refund_unhonoured` is the
   same for money captured for an object that can no longer be honoured (it
   failed, expired or was cancelled meanwhile).

The product applies an `Action` with its own locked transitions; nothing here
knows what a purchase or a booking is.
"""

import logging
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from gateways import (
    ChargeRequest,
    GatewayResult,
    Outcome,
    RefundResult,
    TransientGatewayError,
    get_gateway,
)

logger = logging.getLogger(__name__)


class Action(StrEnum):
    CONFIRM = "confirm"
    FAIL = "fail"
    CHARGE_AGAIN = "charge again (never reached the gateway)"
    WAIT = "leave (gateway has no answer yet)"
    AWAIT_BUYER = "wait for the buyer to authenticate (3-D Secure)"
    ABANDON = "cancel (still waits for the buyer, but can no longer be honoured)"
    REFUND = "refund (captured, but can no longer be honoured)"
    NOTHING = "nothing (already settled)"


@dataclass(frozen=True)
class PaymentView:
    """What the attempt needs to know of a product's payment."""

    key: str  # the idempotency key at the gateway: the object's id
    awaiting_outcome: bool  # the object still waits for this payment's outcome
    has_token: bool  # a token was given, so a charge can be (re)made
    honoured: bool  # the object kept (or already returned) what was paid for


@dataclass(frozen=True)
class Plan:
    result: GatewayResult
    action: Action

    @property
    def outcome(self) -> Outcome:
        return self.result.outcome


def charge(*, key: str, amount: Decimal, currency: str, token: str) -> Plan:
    """Charges `token` under `key`; the plan says what the answer means for an
    object awaiting it (confirm, fail, or wait for the sweep)."""
    result = get_gateway().charge(
        idempotency_key=key, amount=amount, currency=currency, token=token
    )
    return Plan(result, _action_while_awaiting(result.outcome, has_token=False))


def charge_batch(requests: list[ChargeRequest]) -> list[Plan | None]:
    """`charge` for many objects in one gateway round trip: a plan per request,
    in order, or None where the gateway answered with a transient error (that
    object goes back to its own task, which retries it with backoff)."""
    if not requests:
        return []
    answers = get_gateway().charge_batch(requests)
    return [
        None
        if isinstance(answer, TransientGatewayError)
        else Plan(answer, _action_while_awaiting(answer.outcome, has_token=False))
        for answer in answers
    ]


def give_up(*, key: str) -> Plan:
    """After the last retry of a transient error. The gateway may hold the
    charge all the same: captured confirms, declined fails, pending waits for
    the stuck sweep; only a charge it never saw fails (as a payment error)."""
    result = get_gateway().lookup(idempotency_key=key)
    if result.outcome == Outcome.NOT_FOUND:
        return Plan(result, Action.FAIL)
    return Plan(result, _action_while_awaiting(result.outcome, has_token=False))


def reconcile_plan(payment: PaymentView) -> Plan:
    """Asks the gateway for the payment's real outcome and says what to do,
    changing nothing (the sweeps, callbacks and operators' dry runs)."""
    result = get_gateway().lookup(idempotency_key=payment.key)
    if payment.awaiting_outcome:
        return Plan(result, _action_while_awaiting(result.outcome, has_token=payment.has_token))
    if result.outcome == Outcome.CAPTURED and not payment.honoured:
        return Plan(result, Action.REFUND)
    if result.outcome == Outcome.REQUIRES_ACTION and not payment.honoured:
        return Plan(result, Action.ABANDON)
    return Plan(result, Action.NOTHING)


def abandon(*, key: str) -> Plan:
    """Cancels at the gateway a charge still waiting for a buyer whose object
    ended (its hold expired, say), so a late authentication captures nothing;
    if the buyer was faster, the plan is to refund."""
    result = get_gateway().cancel(idempotency_key=key)
    if result.outcome == Outcome.CAPTURED:
        return Plan(result, Action.REFUND)
    return Plan(result, Action.NOTHING)


def refund_key(key: str) -> str:
    """A refund's own idempotency key: one refund per payment, never the charge's key."""
    return f"{key}:refund"


def refund(*, key: str, amount: Decimal) -> RefundResult:
    """Refunds the payment charged under `key`, or answers the refund already
    made: the gateway is asked first what it holds under the refund's key, so a
    refund asked again (a second click, the sweep, a retried task) refunds once.
    Raises TransientGatewayError when the answer is unknown: the caller keeps
    the refund pending and asks again, never takes it as "not refunded"."""
    gateway = get_gateway()
    known = gateway.lookup_refund(idempotency_key=refund_key(key))
    if known is not None:
        return known
    return gateway.refund(idempotency_key=refund_key(key), charge_key=key, amount=amount)


def refund_unhonoured(*, key: str, amount: Decimal) -> RefundResult:
    """Gives back money captured for an object that can no longer be honoured."""
    result = refund(key=key, amount=amount)
    logger.warning("payment %s: captured but no longer honoured, refund %s", key, result.outcome)
    return result


def _action_while_awaiting(outcome: Outcome, *, has_token: bool) -> Action:
    if outcome == Outcome.CAPTURED:
        return Action.CONFIRM
    if outcome == Outcome.DECLINED:
        return Action.FAIL
    if outcome == Outcome.NOT_FOUND and has_token:
        return Action.CHARGE_AGAIN
    if outcome == Outcome.REQUIRES_ACTION:
        return Action.AWAIT_BUYER
    return Action.WAIT
