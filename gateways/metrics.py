"""Every call to the payment gateway, timed and counted by its outcome:
`tickets_gateway_call_duration_seconds{gateway, operation, outcome}`.

The outcome is what the gateway answered (`captured`, `declined`, `pending`,
`not_found`, `requires_action`; for refunds `refunded`, `pending`,
`not_refunded`), `none` for a lookup that found nothing, `transient_error`
for an answer that never came (a timeout, a 5xx) and `error` for anything
else raised. A batch of charges is one call; its outcome is `answered`."""

import time
from collections.abc import Callable

from prometheus_client import Histogram

from gateways.base import TransientGatewayError

CALL_SECONDS = Histogram(
    "tickets_gateway_call_duration_seconds",
    "Calls to the payment gateway, by operation and outcome.",
    ["gateway", "operation", "outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

MEASURED = ("charge", "charge_batch", "lookup", "cancel", "refund", "lookup_refund")


def _outcome(operation: str, answer) -> str:
    if operation == "charge_batch":
        return "answered"
    if answer is None:
        return "none"
    outcome = getattr(answer, "outcome", None)
    return str(outcome) if outcome is not None else "answered"


class MeasuredGateway:
    """The configured gateway, its money calls timed. Everything else passes through."""

    def __init__(self, gateway) -> None:
        self._gateway = gateway

    def __getattr__(self, name: str):
        attribute = getattr(self._gateway, name)
        if name not in MEASURED:
            return attribute
        return self._measured(name, attribute)

    def _measured(self, operation: str, call: Callable) -> Callable:
        gateway_name = self._gateway.name

        def timed(*args, **kwargs):
            started = time.perf_counter()
            outcome = "error"
            try:
                answer = call(*args, **kwargs)
                outcome = _outcome(operation, answer)
                return answer
            except TransientGatewayError:
                outcome = "transient_error"
                raise
            finally:
                CALL_SECONDS.labels(gateway_name, operation, outcome).observe(
                    time.perf_counter() - started
                )

        return timed
