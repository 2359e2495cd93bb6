"""What each product tells the gateway package about the payments it owns.

The gateway package names no product: each product registers, in its
`AppConfig.ready()`, the kind under which the gateway reports on its payments
(the webhook's `data.kind`) and the few services the product-neutral tools
need: reconcile one payment (gateway callbacks), list the payments stuck in
processing, and plan or apply a reconciliation (the operators' command).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from gateways.attempt import Plan
from gateways.base import Dispute


@dataclass(frozen=True)
class StuckPayment:
    id: str  # the idempotency key at the gateway
    started_at: datetime | None


@dataclass(frozen=True)
class PaymentOwner:
    kind: str  # e.g. "ticket_purchase": what the gateway's callbacks call it
    label: str  # e.g. "ticket": how operators' tables name it
    # Applies the gateway's real outcome to one payment; returns a line for the log.
    reconcile: Callable[[str], str]
    # Payments stuck in processing for longer than the minutes given, oldest first.
    stuck: Callable[[int], list[StuckPayment]]
    # What reconciling one payment would do, changing nothing.
    plan: Callable[[str], Plan]
    # Reconciles one payment; returns what was planned and the status after.
    settle: Callable[[str], tuple[Plan, str]]
    # Applies a card holder's dispute of one of its payments (Dispute.key); returns
    # a line for the log; raises ObjectDoesNotExist for a key it does not own.
    dispute: Callable[[Dispute], str] | None = None


_owners: dict[str, PaymentOwner] = {}


def register_payment_owner(owner: PaymentOwner) -> None:
    """Called once per kind from a product's `ready()`; a second product
    claiming the same kind is a configuration error."""
    existing = _owners.get(owner.kind)
    if existing is not None and existing != owner:
        raise ValueError(f"payments of kind {owner.kind!r} already have an owner")
    _owners[owner.kind] = owner


def owner_of(kind: str) -> PaymentOwner | None:
    return _owners.get(kind)


def payment_owners() -> list[PaymentOwner]:
    return [_owners[kind] for kind in sorted(_owners)]
