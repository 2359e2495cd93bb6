"""A gateway that behaves like a card processor's test mode.

Tokens: `tok_success` captures, `tok_decline` is declined, `tok_error` raises a
transient error every time, `tok_error_once` fails once then captures,
`tok_pending` gives no answer until SIMULATED_PENDING_SETTLE_SECONDS have passed
(then a lookup finds it captured), `tok_timeout` is a processor that took the
charge but whose answer never arrives: the charge is pending at the gateway (and
settles like `tok_pending`) while every charge call raises a transient error.
`tok_refund_pending` and `tok_refund_declined` capture, and their refunds are
then pending for a while (asynchronous) or refused. Any other token is declined
as invalid. `fail_next_refund` makes one refund call fail transiently (tests).

Its state lives in Redis, like a real processor's lives outside our database,
so every process (web, workers, beat, tests) sees the same charges. Every key
it writes expires SIMULATED_GATEWAY_RETENTION_DAYS after its last write: Redis
is also the broker and runs noeviction, so nothing may grow there for ever.
"""

import json
import secrets
import time
from decimal import Decimal

import redis
from django.conf import settings

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
from gateways.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_signature
from project.redis_client import redis_client

KEY_PREFIX = "simgw"


def _client() -> redis.Redis:
    # One client (and connection pool) per process, not a new connection per charge.
    return redis_client(settings.SIMULATED_GATEWAY_REDIS_URL)


class SimulatedGateway:
    name = "simulated"

    def __init__(self, client: redis.Redis | None = None) -> None:
        self.redis = client or _client()

    def charge(
        self, *, idempotency_key: str, amount: Decimal, currency: str, token: str
    ) -> GatewayResult:
        self._incr(f"{KEY_PREFIX}:calls:{idempotency_key}")
        self._wait_like_a_processor()
        if token == "tok_timeout":
            self._store(idempotency_key, self._new_record(token, amount, currency), nx=True)
            raise TransientGatewayError("simulated gateway: timed out waiting for the processor")
        existing = self._load(idempotency_key)
        if existing is not None:
            return self._result(idempotency_key, existing)
        if token == "tok_error" or (token == "tok_error_once" and self._first_try(idempotency_key)):
            raise TransientGatewayError("simulated gateway: temporary processing error")
        record = self._new_record(token, amount, currency)
        # NX: of two concurrent charges under one key, only the first is recorded.
        if not self._store(idempotency_key, record, nx=True):
            record = self._load(idempotency_key)
        return self._result(idempotency_key, record)

    # Tokens whose simulation needs more than "record once, answer the record".
    _SPECIAL_TOKENS = frozenset({"tok_error", "tok_error_once", "tok_timeout"})

    def charge_batch(
        self, requests: list[ChargeRequest]
    ) -> list[GatewayResult | TransientGatewayError]:
        """One Redis pipeline for the whole batch: count the call, record the
        charge unless one exists under its key (NX), read back what is recorded.
        The error-simulating tokens go through `charge` one by one."""
        answers: dict[int, GatewayResult | TransientGatewayError] = {}
        plain = []
        for index, request in enumerate(requests):
            if request.token in self._SPECIAL_TOKENS:
                answers[index] = self._charge_one(request)
            else:
                plain.append((index, request))
        if plain:
            self._wait_like_a_processor()
            retention = self._retention_seconds()
            pipe = self.redis.pipeline(transaction=False)
            for _, request in plain:
                key = request.idempotency_key
                pipe.incr(f"{KEY_PREFIX}:calls:{key}")
                pipe.expire(f"{KEY_PREFIX}:calls:{key}", retention)
                record = self._new_record(request.token, request.amount, request.currency)
                pipe.set(self._key(key), json.dumps(record), nx=True, ex=retention)
                pipe.get(self._key(key))
            replies = pipe.execute()
            for position, (index, request) in enumerate(plain):
                record = json.loads(replies[position * 4 + 3])
                answers[index] = self._result(request.idempotency_key, record)
        return [answers[index] for index in range(len(requests))]

    def _charge_one(self, request: ChargeRequest) -> GatewayResult | TransientGatewayError:
        return charge_answer(self, request)

    def lookup(self, *, idempotency_key: str) -> GatewayResult:
        record = self._load(idempotency_key)
        if record is None:
            return GatewayResult(Outcome.NOT_FOUND)
        return self._result(idempotency_key, record)

    def cancel(self, *, idempotency_key: str) -> GatewayResult:
        """Its charges never wait for a buyer: there is nothing to cancel."""
        return self.lookup(idempotency_key=idempotency_key)

    def refund(self, *, idempotency_key: str, charge_key: str, amount: Decimal) -> RefundResult:
        """Refunds the capture under `charge_key`, once per refund key: asked again,
        it answers the refund it made. A capture made with `tok_refund_pending`
        refunds asynchronously (pending, then refunded after
        SIMULATED_PENDING_SETTLE_SECONDS), one made with `tok_refund_declined` is
        refused, and nothing is refunded where nothing was captured."""
        self._wait_like_a_processor()
        if self.redis.delete(self._refund_fault_key(idempotency_key)):
            raise TransientGatewayError("simulated gateway: temporary refund error")
        existing = self._load_refund(idempotency_key)
        if existing is not None:
            return self._refund_result(idempotency_key, existing)
        charge = self._load(charge_key)
        if charge is None or charge["outcome"] not in (Outcome.CAPTURED, Outcome.REFUNDED):
            outcome, reason = RefundOutcome.NOT_REFUNDED, "nothing_to_refund"
        elif charge.get("refunds") == "declined":
            outcome, reason = RefundOutcome.NOT_REFUNDED, "refund_declined"
        elif charge.get("refunds") == "pending":
            outcome, reason = RefundOutcome.PENDING, ""
        else:
            outcome, reason = RefundOutcome.REFUNDED, ""
        record = {
            "outcome": outcome,
            "reason": reason,
            "reference": f"simre_{secrets.token_hex(8)}",
            "charge_key": charge_key,
            "amount": str(amount),
            "settles_at": time.time() + settings.SIMULATED_PENDING_SETTLE_SECONDS,
        }
        # NX: of two concurrent refunds under one key, only the first is made.
        if not self._store_refund(idempotency_key, record, nx=True):
            record = self._load_refund(idempotency_key)
        return self._refund_result(idempotency_key, record)

    def lookup_dispute(self, *, dispute_id: str) -> Dispute | None:
        return None  # nobody disputes a simulated card

    def refunds_made(self, charge_key: str) -> int:
        """How many refunds were made of the capture under a key, under any refund
        key (a scan: for audits and tests)."""
        return sum(
            json.loads(raw)["charge_key"] == charge_key
            for key in self.redis.scan_iter(f"{KEY_PREFIX}:refund:*", count=1000)
            if (raw := self.redis.get(key))
        )

    def fail_next_refund(self, idempotency_key: str) -> None:
        """The next refund call under this refund key raises a transient error, as
        a processor that times out once would (tests; nothing sets it otherwise)."""
        self.redis.set(self._refund_fault_key(idempotency_key), 1, ex=self._retention_seconds())

    @staticmethod
    def _refund_fault_key(idempotency_key: str) -> str:
        return f"{KEY_PREFIX}:fault:refund:{idempotency_key}"

    def lookup_refund(self, *, idempotency_key: str) -> RefundResult | None:
        record = self._load_refund(idempotency_key)
        return None if record is None else self._refund_result(idempotency_key, record)

    def _refund_result(self, idempotency_key: str, record: dict) -> RefundResult:
        if record["outcome"] == RefundOutcome.PENDING and time.time() >= record["settles_at"]:
            record["outcome"] = RefundOutcome.REFUNDED
            self._store_refund(idempotency_key, record)
        if record["outcome"] == RefundOutcome.REFUNDED:
            self._mark_charge_refunded(record["charge_key"])
        return RefundResult(RefundOutcome(record["outcome"]), record["reference"], record["reason"])

    def _mark_charge_refunded(self, charge_key: str) -> None:
        charge = self._load(charge_key)
        if charge is not None and charge["outcome"] != Outcome.REFUNDED:
            charge["outcome"] = Outcome.REFUNDED
            self._store(charge_key, charge)

    def record(
        self, *, idempotency_key: str, amount: Decimal, currency: str, succeed: bool
    ) -> GatewayResult:
        """What the simulated callback does: the gateway settles the payment its
        own way. An outcome already recorded under the key is kept."""
        token = "tok_success" if succeed else "tok_decline"
        record = self._new_record(token, amount, currency)
        self._store(idempotency_key, record, nx=True)
        return self._result(idempotency_key, self._load(idempotency_key))

    def callback_event(
        self, *, kind: str, object_id: str, event_type: str = "charge.updated"
    ) -> dict:
        """A callback's payload as this gateway sends it: a fresh event id and the
        object (our idempotency key) whose payment changed."""
        return {
            "id": f"evt_{secrets.token_hex(12)}",
            "type": event_type,
            "created": int(time.time()),
            "data": {"kind": kind, "id": str(object_id)},
        }

    def sign_callback(
        self, payload: dict, *, timestamp: int | None = None, secret: str | None = None
    ) -> tuple[dict, bytes]:
        """Signs a callback the way the webhook endpoint verifies it: returns the
        headers to send and the exact body they sign."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = webhook_signature(
            secret=settings.PAYMENT_WEBHOOK_SECRET if secret is None else secret,
            timestamp=stamp,
            body=body,
        )
        return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: signature}, body

    def settle(self, idempotency_key: str) -> None:
        """Settles a pending charge now, as the processor eventually does on its
        own after SIMULATED_PENDING_SETTLE_SECONDS (demos and tests)."""
        record = self._load(idempotency_key)
        if record is not None:
            record["settles_at"] = time.time()
            self._store(idempotency_key, record)

    def captures(self, idempotency_key: str) -> int:
        """How many captures exist under a key (0 or 1): for audits and tests."""
        record = self._load(idempotency_key)
        return int(record is not None and record["outcome"] in (Outcome.CAPTURED, Outcome.REFUNDED))

    @staticmethod
    def _wait_like_a_processor() -> None:
        if settings.SIMULATED_GATEWAY_LATENCY_MS:
            time.sleep(settings.SIMULATED_GATEWAY_LATENCY_MS / 1000)

    def _first_try(self, idempotency_key: str) -> bool:
        return self._incr(f"{KEY_PREFIX}:errors:{idempotency_key}") == 1

    def _new_record(self, token: str, amount: Decimal, currency: str) -> dict:
        outcome, reason = {
            "tok_success": (Outcome.CAPTURED, ""),
            "tok_error_once": (Outcome.CAPTURED, ""),
            "tok_decline": (Outcome.DECLINED, "card_declined"),
            "tok_pending": (Outcome.PENDING, ""),
            "tok_timeout": (Outcome.PENDING, ""),
            "tok_refund_pending": (Outcome.CAPTURED, ""),
            "tok_refund_declined": (Outcome.CAPTURED, ""),
        }.get(token, (Outcome.DECLINED, "invalid_token"))
        return {
            "outcome": outcome,
            "refunds": {"tok_refund_pending": "pending", "tok_refund_declined": "declined"}.get(
                token, "at_once"
            ),
            "reason": reason,
            "reference": f"sim_{secrets.token_hex(8)}",
            "amount": str(amount),
            "currency": currency,
            "settles_at": time.time() + settings.SIMULATED_PENDING_SETTLE_SECONDS,
        }

    def _result(self, idempotency_key: str, record: dict) -> GatewayResult:
        if record["outcome"] == Outcome.PENDING and time.time() >= record["settles_at"]:
            record["outcome"] = Outcome.CAPTURED
            self._store(idempotency_key, record)
        return GatewayResult(Outcome(record["outcome"]), record["reference"], record["reason"])

    @staticmethod
    def _retention_seconds() -> int:
        return settings.SIMULATED_GATEWAY_RETENTION_DAYS * 86400

    def _store(self, idempotency_key: str, record: dict, *, nx: bool = False) -> bool:
        """Writes a charge record with its expiry; with nx, only if none exists."""
        return bool(
            self.redis.set(
                self._key(idempotency_key),
                json.dumps(record),
                nx=nx,
                ex=self._retention_seconds(),
            )
        )

    def _incr(self, key: str) -> int:
        pipe = self.redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, self._retention_seconds())
        count, _ = pipe.execute()
        return count

    def _load(self, idempotency_key: str) -> dict | None:
        raw = self.redis.get(self._key(idempotency_key))
        return json.loads(raw) if raw else None

    @staticmethod
    def _key(idempotency_key: str) -> str:
        return f"{KEY_PREFIX}:charge:{idempotency_key}"

    def _load_refund(self, idempotency_key: str) -> dict | None:
        raw = self.redis.get(f"{KEY_PREFIX}:refund:{idempotency_key}")
        if not raw:
            return None
        return json.loads(raw)

    def _store_refund(self, idempotency_key: str, record: dict, *, nx: bool = False) -> bool:
        return bool(
            self.redis.set(
                f"{KEY_PREFIX}:refund:{idempotency_key}",
                json.dumps(record),
                nx=nx,
                ex=self._retention_seconds(),
            )
        )
