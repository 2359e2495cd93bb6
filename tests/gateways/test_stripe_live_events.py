"""Stripe's events through gunicorn and a real worker, offline: a duplicate
and a stale event change nothing, and a dispute voids the codes then gives
them back when won.

localstripe has no disputes, so Stripe's API is played here by a small proxy
on a free port: it answers `GET /v1/disputes/<id>` with the dispute the test
sets, and passes every other call on to localstripe. Events are signed with
the endpoint's secret and posted as Stripe posts them."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from devtools.embedded_redis import free_port
from gateways.models import StripeCharge, WebhookEvent
from tests.gateways import stripe_fakes as fake
from tests.gateways.localstripe import WEBHOOK_SECRET
from tests.gateways.test_stripe_live import VISA, buy
from tests.tickets.door.test_redeem import redeem, staff_client
from tests.waiting import wait_for, wait_until_final
from tests.worker_process import WebServer
from tickets.models import TicketCode, TicketPurchase

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

WEBHOOK_PATH = "/api/payments/webhooks/stripe/"


class DisputesInFront:
    """Stripe's API as the worker sees it: the disputes set here, localstripe for the rest."""

    def __init__(self, localstripe_url: str) -> None:
        self.disputes: dict[str, dict] = {}
        self.port = free_port()
        upstream, disputes = localstripe_url, self.disputes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                dispute_id = self.path.removeprefix("/v1/disputes/").split("?")[0]
                if self.path.startswith("/v1/disputes/"):
                    body = disputes.get(dispute_id)
                    found = body is not None
                    error = {"error": {"type": "invalid_request_error"}}
                    self._answer(200 if found else 404, json.dumps(body if found else error))
                else:
                    self._pass_on()

            def do_POST(self):
                self._pass_on()

            def _pass_on(self):
                length = int(self.headers.get("Content-Length") or 0)
                reply = requests.request(
                    self.command,
                    upstream + self.path,
                    data=self.rfile.read(length) if length else None,
                    headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
                    timeout=10,
                )
                self._answer(reply.status_code, reply.text)

            def _answer(self, status: int, body: str):
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture
def stripe_api(localstripe):
    proxy = DisputesInFront(localstripe.url)
    yield proxy
    proxy.stop()


@pytest.fixture
def stack(localstripe, stripe_api, start_worker):
    """A worker and gunicorn whose Stripe is the proxy (disputes) over localstripe."""
    env = {**localstripe.env(), "STRIPE_API_BASE": stripe_api.url}
    start_worker("stripe-events", extra_env=env)
    web = WebServer(extra_env=env).start()
    localstripe.send_webhooks_to(f"{web.url}{WEBHOOK_PATH}")
    yield web
    web.stop()


def post_event(web, event: dict) -> requests.Response:
    body = json.dumps(event).encode()
    return requests.post(
        f"{web.url}{WEBHOOK_PATH}",
        data=body,
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": fake.signature(body, WEBHOOK_SECRET),
        },
        timeout=10,
    )


def processed(event_id: str) -> WebhookEvent:
    return wait_for(
        lambda: WebhookEvent.objects.filter(event_id=event_id, processed_at__isnull=False).first(),
        timeout=30,
    )


def completed_purchase(api_client, localstripe) -> tuple[TicketPurchase, str]:
    purchase_id = buy(api_client, localstripe, VISA, quantity=2)
    [purchase] = wait_until_final([purchase_id])
    assert purchase.status == TicketPurchase.Status.COMPLETED
    return purchase, StripeCharge.objects.get(key=purchase_id).intent_id


def test_a_stale_and_a_duplicate_event_change_nothing(api_client, localstripe, stack):
    purchase, intent_id = completed_purchase(api_client, localstripe)
    # A payment_failed that arrives after the success (Stripe's order is not
    # guaranteed), with the intent as it stood then, twice.
    stale = fake.event(
        "payment_intent.payment_failed",
        fake.intent("requires_payment_method", id=intent_id),
        event_id="evt_stale_1",
    )

    assert post_event(stack, stale).status_code == 202
    assert post_event(stack, stale).status_code == 200  # known: ignored

    event = processed("evt_stale_1")
    # Reconciled with the intent the worker retrieved (succeeded), not the body's.
    assert event.result == "ticket purchase completed, payment completed"
    purchase.refresh_from_db()
    assert (purchase.status, purchase.payment_status) == ("completed", "completed")
    assert WebhookEvent.objects.filter(event_id="evt_stale_1").count() == 1


def test_a_dispute_voids_the_codes_and_a_win_gives_them_back(
    api_client, localstripe, stripe_api, stack
):
    purchase, intent_id = completed_purchase(api_client, localstripe)
    dispute = fake.dispute("needs_response", id="dp_live_1", payment_intent=intent_id)
    stripe_api.disputes["dp_live_1"] = dispute

    created = fake.event("charge.dispute.created", dispute, event_id="evt_dispute_1")
    assert post_event(stack, created).status_code == 202
    assert processed("evt_dispute_1").result == "ticket purchase completed, dispute open"

    statuses = set(TicketCode.objects.filter(purchase=purchase).values_list("status", flat=True))
    assert statuses == {"void"}
    door, _ = staff_client()
    refused = redeem(door, purchase.codes.first().code)
    assert refused.status_code == 410 and "disputed" in refused.json()["detail"]

    stripe_api.disputes["dp_live_1"] = {**dispute, "status": "won"}
    closed = fake.event(
        "charge.dispute.closed", {**dispute, "status": "won"}, event_id="evt_dispute_2"
    )
    assert post_event(stack, closed).status_code == 202
    assert processed("evt_dispute_2").result == "ticket purchase completed, dispute won"
    assert redeem(door, purchase.codes.first().code).status_code == 200
