"""`Idempotency-Key` on purchase creation, enforced by a unique constraint.

The first request with a key inserts its row (committed at once, so a second
copy arriving meanwhile sees it in flight); the response is stored on the row
in the same transaction that creates the purchase.

Keys are scoped per client (the user, or the client address for anonymous
requests): one buyer's key never replays another's purchase. A key lives
IDEMPOTENCY_KEY_TTL_HOURS: after that it is new again, and beat purges it (its
stored reply holds the buyer's details).
"""

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from project.errors import DomainError
from project.sweeps import delete_in_batches
from tickets.models import IdempotencyKey


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    http_status = 422
    default_detail = "This Idempotency-Key was used with a different request body."


class IdempotencyKeyInFlight(DomainError):
    code = "idempotency_key_in_flight"
    http_status = 409
    default_detail = "A request with this Idempotency-Key is still being processed."


logger = logging.getLogger(__name__)

# A request holding a key longer than this is taken to have died.
IN_FLIGHT_TIMEOUT_SECONDS = 60
# Room IdempotencyKey.scope leaves for the client's identity.
SCOPE_MAX_LENGTH = 64
PURGE_BATCH_SIZE = 1000
PURGE_MAX_BATCHES = 50  # one run stays well inside a task's time limit


@dataclass(frozen=True)
class Claim:
    record: IdempotencyKey
    replay: bool  # True: answer with the stored response, create nothing


def request_fingerprint(data: dict) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_claim(*, scope: str, key: str, fingerprint: str) -> Claim:
    try:
        with transaction.atomic():
            record = IdempotencyKey.objects.create(
                scope=scope, key=key, request_fingerprint=fingerprint
            )
        return Claim(record=record, replay=False)
    except IntegrityError:
        record = IdempotencyKey.objects.get(scope=scope, key=key)
    if _expired(record):
        # Past its TTL a key is new: whatever it answered before is forgotten.
        IdempotencyKey.objects.filter(pk=record.pk).delete()
        return idempotency_claim(scope=scope, key=key, fingerprint=fingerprint)
    if record.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    if record.response_status is None:
        if _abandoned(record):
            # Its request died before answering (a killed web process): start over.
            IdempotencyKey.objects.filter(pk=record.pk, response_status__isnull=True).delete()
            return idempotency_claim(scope=scope, key=key, fingerprint=fingerprint)
        raise IdempotencyKeyInFlight()
    return Claim(record=record, replay=True)


def _abandoned(record: IdempotencyKey) -> bool:
    return record.created_at < timezone.now() - timedelta(seconds=IN_FLIGHT_TIMEOUT_SECONDS)


def _expiry_cutoff() -> datetime:
    return timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)


def _expired(record: IdempotencyKey) -> bool:
    return record.created_at < _expiry_cutoff()


def idempotency_scope(*, user, client_address: str | None) -> str:
    """Whose key it is: the user when authenticated, else the client address."""
    if getattr(user, "is_authenticated", False):
        return f"purchase_create:user:{user.pk}"
    scope = f"purchase_create:ip:{client_address or 'unknown'}"
    if len(scope) > SCOPE_MAX_LENGTH:  # an unusually long address (IPv6 with a zone)
        digest = hashlib.sha256(client_address.encode()).hexdigest()
        scope = f"purchase_create:ip#{digest[:40]}"
    return scope


def idempotency_keys_purge() -> int:
    """Deletes keys past their TTL in bounded batches; returns how many."""
    stale = IdempotencyKey.objects.filter(created_at__lt=_expiry_cutoff())
    purged = delete_in_batches(stale, batch_size=PURGE_BATCH_SIZE, max_batches=PURGE_MAX_BATCHES)
    if purged:
        logger.info(
            "purged %d idempotency keys older than %dh", purged, settings.IDEMPOTENCY_KEY_TTL_HOURS
        )
    return purged


def idempotency_store(*, record: IdempotencyKey, purchase_id, status: int, body: dict) -> None:
    """Call inside the transaction that created the purchase."""
    record.purchase_id = purchase_id
    record.response_status = status
    record.response_body = body
    record.save(update_fields=["purchase", "response_status", "response_body"])


def idempotency_release(*, record: IdempotencyKey) -> None:
    """The request failed and created nothing: the key may be used again."""
    IdempotencyKey.objects.filter(pk=record.pk, response_status__isnull=True).delete()


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict
    replayed: bool  # True: the stored reply of an earlier request; nothing was created


def purchase_create_idempotent(
    *,
    key: str,
    data: dict,
    user,
    client_address: str | None = None,
    status: int,
    create: Callable[[], dict],
) -> Reply:
    """Creates a purchase from validated `data` at most once per key and client.

    The client is the user when authenticated, else `client_address`. `create()`
    stores the purchase and answers its reply body (with its `purchase_id`); it
    runs in the transaction that stores the reply on the key. The same key with
    the same data answers the stored reply again and creates nothing; with other
    data it raises IdempotencyKeyReused, and while the first request is still
    running, IdempotencyKeyInFlight. A create that fails frees the key.
    """
    claim = idempotency_claim(
        scope=idempotency_scope(user=user, client_address=client_address),
        key=key,
        fingerprint=request_fingerprint(data),
    )
    if claim.replay:
        return Reply(claim.record.response_status, claim.record.response_body, replayed=True)
    try:
        with transaction.atomic():
            body = create()
            idempotency_store(
                record=claim.record, purchase_id=body["purchase_id"], status=status, body=body
            )
    except Exception:
        idempotency_release(record=claim.record)
        raise
    return Reply(status, body, replayed=False)
