"""localstripe, a stateful fake of Stripe's API, as a separate process on a
free port, like the fault tests' private Redis. Test-only: the project never
imports it. Its store is kept in memory only (it would otherwise pickle itself
to a fixed /tmp file shared by every run).

What it cannot do is played by a fake HTTP client instead
(tests/gateways/stripe_fakes.py): declines with a decline_code, timeouts,
429, 500, `processing`, refunds pending or failed, disputes.
"""

import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

from devtools.embedded_redis import free_port, wait_for_port
from tests.worker_process import ROOT

SECRET_KEY = "sk_test_localstripe"
PUBLISHABLE_KEY = "pk_test_localstripe"
WEBHOOK_SECRET = "whsec_localstripe_tests"

BOOT = """
import sys
from localstripe import resources
resources.Store.dump_to_disk = lambda self: None
from localstripe.server import start
sys.argv = ["localstripe", "--port", sys.argv[1], "--from-scratch"]
start()
"""


class LocalStripeUnavailable(Exception):
    pass


class LocalStripe:
    def __init__(self) -> None:
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (open for the server's life)
            prefix="localstripe-", suffix=".log", delete=False
        )
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """What a web or worker process needs to take payments here."""
        return {
            "PAYMENT_GATEWAY": "stripe",
            "STRIPE_SECRET_KEY": SECRET_KEY,
            "STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_API_BASE": self.url,
            "STRIPE_ALLOW_TEST_KEYS": "true",
            "STRIPE_MAX_NETWORK_RETRIES": "0",
        }

    def start(self) -> "LocalStripe":
        if importlib.util.find_spec("localstripe") is None:
            raise LocalStripeUnavailable("localstripe is not installed (requirements-dev.txt)")
        self.process = subprocess.Popen(
            [sys.executable, "-c", BOOT, str(self.port)],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_port(self.port, timeout=20)
        except RuntimeError:
            self.stop()
            raise LocalStripeUnavailable(f"it did not answer: {self.output()[-500:]}") from None
        return self

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)

    # --- what the browser (Stripe.js) and Stripe's dashboard do ---------------------------

    def _post(self, path: str, data: dict) -> dict:
        response = requests.post(f"{self.url}{path}", data=data, auth=(SECRET_KEY, ""), timeout=10)
        response.raise_for_status()
        return response.json() if response.content else {}

    def _get(self, path: str, **params) -> dict:
        response = requests.get(
            f"{self.url}{path}", params=params, auth=(SECRET_KEY, ""), timeout=10
        )
        response.raise_for_status()
        return response.json()

    def payment_method(self, number: str) -> str:
        """A card's PaymentMethod id, as Stripe.js makes it in the buyer's browser."""
        card = {"number": number, "exp_month": "12", "exp_year": "2030", "cvc": "123"}
        body = {"type": "card", **{f"card[{name}]": value for name, value in card.items()}}
        return self._post("/v1/payment_methods", body)["id"]

    def authenticate(self, intent_id: str, client_secret: str, *, success: bool = True) -> dict:
        """The buyer passes (or fails) the 3-D Secure challenge."""
        body = {"client_secret": client_secret, "success": "true" if success else "false"}
        return self._post(f"/v1/payment_intents/{intent_id}/_authenticate", body)

    def send_webhooks_to(self, url: str, *, secret: str = WEBHOOK_SECRET) -> None:
        self._post("/_config/webhooks/tests", {"url": url, "secret": secret})

    def intent(self, intent_id: str) -> dict:
        return self._get(f"/v1/payment_intents/{intent_id}")

    def refunds(self, intent_id: str) -> list[dict]:
        return self._get("/v1/refunds", payment_intent=intent_id)["data"]
