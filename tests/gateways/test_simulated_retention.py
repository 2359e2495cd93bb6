"""The simulated gateway shares Redis with the broker (noeviction): every key it
writes expires after SIMULATED_GATEWAY_RETENTION_DAYS."""

import contextlib
import uuid
from decimal import Decimal

import pytest

from gateways import TransientGatewayError
from gateways.simulated import KEY_PREFIX, SimulatedGateway


@pytest.fixture
def gateway():
    return SimulatedGateway()


def ttls(gateway, key: str) -> dict[str, int]:
    return {
        name.decode(): gateway.redis.ttl(name)
        for name in gateway.redis.scan_iter(f"{KEY_PREFIX}:*:{key}")
    }


@pytest.mark.parametrize("token", ["tok_success", "tok_decline", "tok_pending", "tok_error_once"])
def test_every_key_a_charge_writes_expires(gateway, settings, token):
    settings.SIMULATED_GATEWAY_RETENTION_DAYS = 30
    key = str(uuid.uuid4())
    for _ in range(2):  # tok_error_once: fails, then captures
        with contextlib.suppress(TransientGatewayError):
            gateway.charge(idempotency_key=key, amount=Decimal("10"), currency="USD", token=token)
    written = ttls(gateway, key)
    assert f"{KEY_PREFIX}:charge:{key}" in written and f"{KEY_PREFIX}:calls:{key}" in written
    assert all(0 < ttl <= 30 * 86400 for ttl in written.values()), written


def test_refunds_callbacks_and_timeouts_keep_an_expiry(gateway, settings):
    settings.SIMULATED_GATEWAY_RETENTION_DAYS = 1
    paid, timed_out = str(uuid.uuid4()), str(uuid.uuid4())
    gateway.record(idempotency_key=paid, amount=Decimal("5"), currency="USD", succeed=True)
    gateway.refund(idempotency_key=f"{paid}:refund", charge_key=paid, amount=Decimal("5"))
    gateway.settle(paid)
    with pytest.raises(TransientGatewayError):
        gateway.charge(
            idempotency_key=timed_out, amount=Decimal("5"), currency="USD", token="tok_timeout"
        )
    written = {**ttls(gateway, paid), **ttls(gateway, f"{paid}:refund"), **ttls(gateway, timed_out)}
    assert len(written) == 4  # paid's charge and refund; timed_out's charge and call count
    assert all(0 < ttl <= 86400 for ttl in written.values()), written
