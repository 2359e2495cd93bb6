"""Charges, look-ups and refunds through Stripe's PaymentIntents.

A charge creates a PaymentIntent for the buyer's PaymentMethod, records its id
under the charge's idempotency key (committed before anything else happens),
then confirms it. Whatever goes wrong after the record (a lost reply, a crash,
a retried task), the key leads back to that intent: it is retrieved, or
confirmed if it never was, and never created twice. Refunds are recorded the
same way under the refund's own key. Never the Search API, which is not
read-after-write.
"""

import logging
from concurrent.futures import ThreadPoolExecutor, wait
from decimal import Decimal
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, close_old_connections, connections, transaction

from gateways.base import (
    ChargeRequest,
    Dispute,
    GatewayResult,
    Outcome,
    RefundOutcome,
    RefundResult,
    TransientGatewayError,
    charge_answer,
)
from gateways.stripe.client import minor_units, stripe_client
from gateways.stripe.outcomes import (
    TRANSIENT_ERRORS,
    card_error_result,
    dispute_state,
    intent_result,
    refund_result,
)

logger = logging.getLogger(__name__)

# The only payment method this adapter takes (a PaymentMethod made by Stripe.js).
PAYMENT_METHODS = frozenset({"card"})
# Intents that have captured nothing and can still be cancelled.
CANCELLABLE = frozenset({"requires_action", "requires_confirmation", "requires_payment_method"})


class StripeGateway:
    name = "stripe"

    def __init__(self, client: stripe.StripeClient | None = None) -> None:
        self.client = client or stripe_client()

    # --- Charges --------------------------------------------------------------------

    def charge(
        self, *, idempotency_key: str, amount: Decimal, currency: str, token: str
    ) -> GatewayResult:
        if not token.startswith("pm_"):
            return GatewayResult(Outcome.DECLINED, reason="invalid_payment_method")
        intent_id = ""
        try:
            intent = self._intent_for(idempotency_key, amount, currency, token)
            intent_id = intent["id"]
            if intent["status"] == "requires_confirmation":
                intent = self.client.v1.payment_intents.confirm(
                    intent_id, options={"idempotency_key": f"{idempotency_key}:confirm"}
                )
            return intent_result(intent)
        except stripe.CardError as exc:
            return card_error_result(exc, intent_id)
        except stripe.InvalidRequestError as exc:
            if not intent_id:  # refused at create: a bad PaymentMethod, currency...
                return GatewayResult(Outcome.DECLINED, reason=str(exc.code or "invalid_request"))
            # e.g. confirmed meanwhile: ask what it is (lookup maps its own errors)
            return self.lookup(idempotency_key=idempotency_key)
        except TRANSIENT_ERRORS as exc:
            raise _transient(exc, idempotency_key) from exc

    def charge_batch(
        self, requests: list[ChargeRequest]
    ) -> list[GatewayResult | TransientGatewayError]:
        """Stripe has no batch call: the charges run on a few threads at once,
        and one not answered within the batch's deadline comes back as a
        transient error (its own task asks again under the same key)."""
        if len(requests) <= 1 or settings.STRIPE_BATCH_CONCURRENCY <= 1:
            return [self._charge_one(request) for request in requests]
        pool = ThreadPoolExecutor(
            max_workers=min(settings.STRIPE_BATCH_CONCURRENCY, len(requests)),
            thread_name_prefix="stripe-charge",
        )
        try:
            futures = [pool.submit(self._charge_in_thread, request) for request in requests]
            wait(futures, timeout=settings.STRIPE_BATCH_DEADLINE_SECONDS)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return [
            future.result()
            if future.done() and not future.cancelled()
            else TransientGatewayError("stripe: no answer within the batch's deadline")
            for future in futures
        ]

    def _charge_in_thread(self, request: ChargeRequest) -> GatewayResult | TransientGatewayError:
        close_old_connections()
        try:
            return self._charge_one(request)
        finally:
            connections.close_all()  # this thread's own connections only

    def _charge_one(self, request: ChargeRequest) -> GatewayResult | TransientGatewayError:
        return charge_answer(self, request)

    def lookup(self, *, idempotency_key: str) -> GatewayResult:
        intent_id = _recorded_intent(idempotency_key)
        if intent_id is None:
            return GatewayResult(Outcome.NOT_FOUND)
        try:
            return self._retrieved(intent_id)
        except TRANSIENT_ERRORS as exc:
            raise _transient(exc, idempotency_key) from exc

    def cancel(self, *, idempotency_key: str) -> GatewayResult:
        intent_id = _recorded_intent(idempotency_key)
        if intent_id is None:
            return GatewayResult(Outcome.NOT_FOUND)
        try:
            intent = self.client.v1.payment_intents.retrieve(intent_id)
            if intent["status"] in CANCELLABLE:
                intent = self.client.v1.payment_intents.cancel(
                    intent_id, options={"idempotency_key": f"{idempotency_key}:cancel"}
                )
            return intent_result(intent)
        except stripe.InvalidRequestError:
            return self.lookup(idempotency_key=idempotency_key)  # it moved on meanwhile
        except TRANSIENT_ERRORS as exc:
            raise _transient(exc, idempotency_key) from exc

    def _retrieved(self, intent_id: str) -> GatewayResult:
        result = intent_result(self.client.v1.payment_intents.retrieve(intent_id))
        if result.outcome == Outcome.CAPTURED and self._fully_refunded(intent_id):
            return GatewayResult(Outcome.REFUNDED, result.reference)
        return result

    def _fully_refunded(self, intent_id: str) -> bool:
        from gateways.models import StripeCharge, StripeRefund

        key = StripeCharge.objects.filter(intent_id=intent_id).values_list("key", flat=True)
        return StripeRefund.objects.filter(charge_key__in=key, settled=True).exists()

    def _intent_for(self, key: str, amount: Decimal, currency: str, token: str) -> Any:
        """The intent recorded under `key` as Stripe holds it now, or a new one,
        recorded and committed before it is confirmed."""
        from gateways.models import StripeCharge

        recorded = _recorded_intent(key)
        if recorded is not None:
            return self.client.v1.payment_intents.retrieve(recorded)
        intent = self.client.v1.payment_intents.create(
            {
                "amount": minor_units(amount, currency),
                "currency": currency.lower(),
                "payment_method": token,
                "payment_method_types": ["card"],
                "metadata": {"idempotency_key": key},
            },
            options={"idempotency_key": f"{key}:create"},
        )
        try:
            with transaction.atomic():
                StripeCharge.objects.create(key=key, intent_id=intent["id"])
        except IntegrityError:
            # A concurrent charge under the same key recorded first: use its intent.
            logger.warning("charge %s: intent %s made twice; using the first", key, intent["id"])
            return self.client.v1.payment_intents.retrieve(_recorded_intent(key))
        return intent

    # --- Refunds --------------------------------------------------------------------

    def refund(self, *, idempotency_key: str, charge_key: str, amount: Decimal) -> RefundResult:
        from gateways.models import StripeRefund

        known = self.lookup_refund(idempotency_key=idempotency_key)
        if known is not None:
            return known
        intent_id = _recorded_intent(charge_key)
        if intent_id is None:
            return RefundResult(RefundOutcome.NOT_REFUNDED, reason="nothing_to_refund")
        try:
            intent = self.client.v1.payment_intents.retrieve(intent_id)
            refund = self.client.v1.refunds.create(
                {
                    "payment_intent": intent_id,
                    "amount": minor_units(amount, intent["currency"]),
                    "metadata": {"idempotency_key": idempotency_key},
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.InvalidRequestError as exc:
            if exc.code == "charge_already_refunded":
                return RefundResult(RefundOutcome.REFUNDED, reason="already_refunded")
            return RefundResult(RefundOutcome.NOT_REFUNDED, reason=str(exc.code or "refused"))
        except TRANSIENT_ERRORS as exc:
            raise _transient(exc, idempotency_key) from exc
        result = refund_result(refund)
        StripeRefund.objects.get_or_create(
            key=idempotency_key,
            defaults={
                "refund_id": refund["id"],
                "charge_key": charge_key,
                "settled": result.outcome == RefundOutcome.REFUNDED,
            },
        )
        return result

    def lookup_refund(self, *, idempotency_key: str) -> RefundResult | None:
        from gateways.models import StripeRefund

        record = StripeRefund.objects.filter(key=idempotency_key).first()
        if record is None:
            return None
        try:
            result = refund_result(self.client.v1.refunds.retrieve(record.refund_id))
        except TRANSIENT_ERRORS as exc:
            raise _transient(exc, idempotency_key) from exc
        if result.outcome == RefundOutcome.REFUNDED and not record.settled:
            StripeRefund.objects.filter(pk=record.pk).update(settled=True)
        return result

    # --- Disputes -------------------------------------------------------------------

    def lookup_dispute(self, *, dispute_id: str) -> Dispute | None:
        """The dispute retrieved from Stripe, keyed by our charge's key (found
        from the PaymentIntent it disputes); None for an id Stripe does not know."""
        from gateways.models import StripeCharge

        try:
            dispute = self.client.v1.disputes.retrieve(dispute_id)
        except stripe.InvalidRequestError:
            return None
        except TRANSIENT_ERRORS as exc:
            raise _transient(exc, dispute_id) from exc
        intent_id = _id_of(dispute["payment_intent"])
        key = StripeCharge.objects.filter(intent_id=intent_id).values_list("key", flat=True).first()
        return Dispute(key or "", dispute_state(dispute), str(dispute["reason"] or "")[:64])


def _id_of(field: Any) -> str:
    """An expandable field's id: the id itself, or the expanded object's."""
    if field is None:
        return ""
    return field if isinstance(field, str) else str(field["id"])


def _recorded_intent(key: str) -> str | None:
    from gateways.models import StripeCharge

    return StripeCharge.objects.filter(key=key).values_list("intent_id", flat=True).first()


def _transient(exc: stripe.StripeError, key: str) -> TransientGatewayError:
    logger.warning("stripe: %s for %s (%s)", type(exc).__name__, key, exc.http_status)
    return TransientGatewayError(f"stripe: {type(exc).__name__}")
