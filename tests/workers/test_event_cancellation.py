"""Issue 22's proof of an event's cancellation, through real Celery workers on
the real broker and the simulated gateway (which keys its refunds): 200 paid
purchases, one refund call failing transiently and one worker SIGKILLed while
refunds are going. Every purchase ends refunded exactly once, the money
refunded is the money taken, and the dry run's figures match the result.

The dead worker's unacknowledged refunds come back to the next worker
(acks_late), and the resume sweep sends whatever is still to refund again;
the refund's own key at the gateway makes any repeat refund nothing.
"""

import json
from collections import Counter
from decimal import Decimal

import pytest
import redis
from django.conf import settings
from django.db.models import Sum

from gateways.attempt import refund_key
from gateways.simulated import SimulatedGateway
from project.tasks import RESUME_CANCELLATIONS_TASK, SWEEPS_QUEUE
from tests.factories import PurchaseFactory, TicketFactory, UserFactory
from tests.inventory import assert_inventory_adds_up
from tests.waiting import describe, wait_for
from tickets.cancellation.services import (
    REFUND_REASON,
    cancellation_progress,
    event_cancel,
    event_cancel_figures,
)
from tickets.door.redemption import code_redeem
from tickets.models import EventCancellation, TicketCode, TicketPurchase
from tickets.sale.payment import purchase_process

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PURCHASES = 200
SCANNED = 5
SLOW_GATEWAY = {"SIMULATED_GATEWAY_LATENCY_MS": "60"}
QUICK_RESTORE = {
    "CELERY_VISIBILITY_TIMEOUT": "3",
    "CELERY_UNACKED_RESTORE_INTERVAL": "1",
    "CELERY_UNACKED_RESTORE_THROTTLE": "1",
    "REQUEUE_AFTER_SECONDS": "2",
}


def paid_purchases(ticket) -> list[TicketPurchase]:
    """Bought through the pipeline's own service (reserve, charge, confirm with codes)."""
    purchases = []
    for n in range(PURCHASES):
        purchase = PurchaseFactory(ticket=ticket, quantity=1 + n % 2)
        purchases.append(purchase_process(purchase_id=purchase.pk))
    assert {p.status for p in purchases} == {TicketPurchase.Status.CONFIRMED}
    return purchases


def refunds_by_capture() -> Counter:
    client = redis.Redis.from_url(settings.REDIS_URL)
    return Counter(
        json.loads(client.get(key))["charge_key"] for key in client.scan_iter("simgw:refund:*")
    )


def refunded() -> int:
    return TicketPurchase.objects.filter(
        refund_reason=REFUND_REASON, payment_status=TicketPurchase.PaymentStatus.REFUNDED
    ).count()


def test_cancelling_200_paid_purchases_refunds_each_once_through_a_crash(start_worker):
    ticket = TicketFactory(total_quantity=PURCHASES * 2, price=Decimal("30.00"))
    purchases = paid_purchases(ticket)
    door = UserFactory(is_staff=True)
    for purchase in purchases[:SCANNED]:
        code_redeem(code=purchase.codes.first().code, staff_user=door)
    gateway = SimulatedGateway()
    flaky = refund_key(str(purchases[-1].pk))
    gateway.fail_next_refund(flaky)
    # Two places, as stored (SQLite's SUM drops them).
    taken = TicketPurchase.objects.aggregate(total=Sum("total_amount"))["total"].quantize(
        Decimal("0.01")
    )
    dry_run = event_cancel_figures(ticket_id=ticket.pk)

    doomed = start_worker("doomed", concurrency=2, extra_env=SLOW_GATEWAY)
    try:
        cancellation = event_cancel(ticket_id=ticket.pk)
        wait_for(lambda: refunded() >= 20, timeout=30)
        doomed.kill()  # mid-run: refunds under way, others waiting on the queue
    finally:
        doomed.stop()
    assert refunded() < PURCHASES, "the kill came too late to prove anything"

    survivor = start_worker("survivor", concurrency=4, extra_env=QUICK_RESTORE, purge=False)
    try:
        from workers.celery import app

        def resumed_and_done() -> bool:
            # What beat does every SWEEP_INTERVAL_SECONDS.
            app.send_task(RESUME_CANCELLATIONS_TASK, queue=SWEEPS_QUEUE).get(timeout=30)
            return EventCancellation.objects.get(pk=cancellation.pk).status == "done"

        try:
            wait_for(resumed_and_done, timeout=50, interval=2.0)
        except AssertionError:
            left = TicketPurchase.objects.exclude(status="refunded")
            stuck = [describe(purchase) for purchase in left[:5]]
            raise AssertionError(
                f"{left.count()} not refunded: {stuck}\n{survivor.output()[-4000:]}"
            ) from None
    finally:
        survivor.stop()

    # Every purchase refunded, once: one refund at the gateway per capture.
    cancellation.refresh_from_db()
    statuses = set(TicketPurchase.objects.values_list("status", "payment_status"))
    assert statuses == {("refunded", "refunded")}
    made = refunds_by_capture()
    assert set(made) == {str(p.pk) for p in purchases}
    assert set(made.values()) == {1}
    assert not redis.Redis.from_url(settings.REDIS_URL).exists(f"simgw:fault:refund:{flaky}")
    assert not TicketCode.objects.filter(status=TicketCode.Status.VALID).exists()
    assert TicketCode.objects.filter(status=TicketCode.Status.USED).count() == SCANNED

    # Money refunded is money taken, and the dry run said so.
    progress = cancellation_progress(cancellation)
    assert progress == {
        "done": PURCHASES,
        "failed": 0,
        "pending": 0,
        "money_refunded": {"USD": str(taken)},
    }
    assert cancellation.figures == dry_run
    assert dry_run["purchases_to_refund"] == progress["done"]
    assert dry_run["money_to_refund"] == progress["money_refunded"]
    assert dry_run["codes_scanned"] == SCANNED
    assert_inventory_adds_up(ticket)
