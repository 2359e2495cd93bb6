"""Recovery through real processes (issue 10): a late capture reaches a real
worker by the signed webhook and is refunded, and a refund whose process is
killed between voiding the codes and the gateway's refund is finished by the
sweep, never left void-but-charged."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from gateways.simulated import SimulatedGateway
from tests.factories import PurchaseFactory, TicketFactory
from tests.waiting import wait_for
from tests.worker_process import ROOT, service_env
from tickets.delivery.services import purchase_deliver
from tickets.models import Ticket, TicketPurchase
from tickets.sale.payment import purchase_process
from tickets.sale.purchases import purchase_reserve, purchases_expire_due
from workers.tasks import finish_refunds

pytestmark = pytest.mark.django_db(transaction=True)

WEBHOOK_SECRET = "recovery-test-secret"


def state(purchase_id) -> tuple[str, str]:
    purchase = TicketPurchase.objects.get(pk=purchase_id)
    return purchase.status, purchase.payment_status


def test_a_capture_arriving_after_the_hold_expired_is_refunded_by_the_worker(
    worker, api_client, settings
):
    settings.PAYMENT_WEBHOOK_SECRET = WEBHOOK_SECRET
    gateway = SimulatedGateway()
    purchase = PurchaseFactory(ticket=TicketFactory(total_quantity=5), payment_token="")
    purchase_reserve(purchase_id=purchase.pk)
    TicketPurchase.objects.filter(pk=purchase.pk).update(
        hold_expires_at=timezone.now() - timedelta(seconds=1)
    )
    purchases_expire_due()
    assert state(purchase.pk) == ("expired", "pending")

    # The buyer paid on the gateway's page after all; its callback arrives late.
    gateway.record(idempotency_key=str(purchase.pk), amount=160, currency="USD", succeed=True)
    payload = gateway.callback_event(kind="ticket_purchase", object_id=purchase.pk)
    headers, body = gateway.sign_callback(payload, secret=WEBHOOK_SECRET)
    meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    response = api_client.post(
        "/api/payments/webhooks/simulated/", data=body, content_type="application/json", **meta
    )
    assert response.status_code == 202

    wait_for(lambda: state(purchase.pk) == ("expired", "refunded"))
    purchase.refresh_from_db()
    assert purchase.refund_reason == "captured_after_expired"
    assert gateway.lookup(idempotency_key=str(purchase.pk)).outcome == "refunded"
    assert Ticket.objects.get(pk=purchase.ticket_id).available_quantity == 5


def refund_in_a_process_that_will_be_killed(purchase_id) -> subprocess.Popen:
    """A staff refund running in its own process, its gateway call slow enough
    to be killed in the middle (SIGKILL: no cleanup runs)."""
    code = (
        "from tickets.refunds.services import purchase_refund; "
        f"purchase_refund(purchase_id='{purchase_id}')"
    )
    env = service_env({"SIMULATED_GATEWAY_LATENCY_MS": "30000"})
    return subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_a_refund_killed_between_voiding_and_the_gateway_is_finished_by_the_sweep(worker, settings):
    ticket = TicketFactory(total_quantity=10)
    purchase = PurchaseFactory(ticket=ticket, quantity=2)
    purchase_process(purchase_id=purchase.pk)
    purchase_deliver(purchase_id=purchase.pk)

    refund = refund_in_a_process_that_will_be_killed(purchase.pk)
    try:
        wait_for(lambda: state(purchase.pk) == ("completed", "refund_pending"))
        time.sleep(0.5)  # inside the gateway call now
    finally:
        os.killpg(refund.pid, signal.SIGKILL)
        refund.wait(timeout=10)
    codes = set(purchase.codes.values_list("status", flat=True))
    assert codes == {"void"}
    assert SimulatedGateway().lookup(idempotency_key=str(purchase.pk)).outcome == "captured"

    # The beat's sweep finds it once it has waited REQUEUE_AFTER_SECONDS.
    TicketPurchase.objects.filter(pk=purchase.pk).update(
        updated_at=timezone.now() - timedelta(seconds=settings.REQUEUE_AFTER_SECONDS + 1)
    )
    assert finish_refunds.delay().get(timeout=20) == 1
    wait_for(lambda: state(purchase.pk) == ("refunded", "refunded"))
    assert SimulatedGateway().lookup(idempotency_key=str(purchase.pk)).outcome == "refunded"
    assert Ticket.objects.get(pk=ticket.pk).available_quantity == 10
