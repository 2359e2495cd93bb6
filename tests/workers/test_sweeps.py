"""The periodic sweeps, run as task functions in this process (no broker needed),
with a fake clock."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from project.tasks import PROCESS_TASK, RECONCILE_TASK
from tests.factories import PurchaseFactory, TicketFactory
from tickets.models import Ticket, TicketPurchase
from tickets.sale.payment import purchase_charge
from tickets.sale.purchases import purchase_reserve, purchases_expire_due
from workers import tasks


def reserved(ticket, **kwargs) -> TicketPurchase:
    purchase = PurchaseFactory(ticket=ticket, payment_token="", **kwargs)
    return purchase_reserve(purchase_id=purchase.pk)


@pytest.mark.django_db
def test_expiry_task_expires_holds_only_after_they_end():
    ticket = TicketFactory(total_quantity=10)
    purchase = reserved(ticket, quantity=4)
    assert tasks.expire_purchases() == 0
    with time_machine.travel(timezone.now() + timedelta(seconds=901)):
        assert tasks.expire_purchases() == 1
    purchase.refresh_from_db()
    ticket.refresh_from_db()
    assert purchase.status == "expired" and ticket.available_quantity == 10


@pytest.mark.django_db
def test_expiry_skips_purchases_whose_payment_is_in_flight():
    ticket = TicketFactory(total_quantity=10)
    paying = reserved(ticket, quantity=2)
    TicketPurchase.objects.filter(pk=paying.pk).update(payment_token="tok_pending")
    purchase_charge(purchase_id=paying.pk)
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        assert tasks.expire_purchases() == 0
    paying.refresh_from_db()
    assert paying.payment_status == "processing"


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_release_each_hold_exactly_once():
    ticket = TicketFactory(total_quantity=40)
    past = timezone.now() - timedelta(seconds=1)
    for _ in range(30):
        reserved(ticket, quantity=1, hold_expires_at=past)
    assert Ticket.objects.get(pk=ticket.pk).available_quantity == 10
    start = threading.Barrier(2)
    errors = []

    def sweep():
        try:
            start.wait()
            while purchases_expire_due(batch_size=5):
                pass
        except Exception as exc:  # surfaced below: a sweep must never crash
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Ticket.objects.get(pk=ticket.pk).available_quantity == 40
    assert set(TicketPurchase.objects.values_list("status", flat=True)) == {"expired"}


@pytest.mark.django_db
def test_requeue_finds_purchases_whose_processing_never_started(
    published, django_capture_on_commit_callbacks
):
    lost = PurchaseFactory()
    reserved(TicketFactory())  # started by a worker: not requeued
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.requeue_unstarted_purchases() == 1
        # A second sweep right after finds it claimed and leaves it to the first.
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.requeue_unstarted_purchases() == 0
    assert published.ids(PROCESS_TASK) == [str(lost.pk)]


@pytest.mark.django_db
def test_stuck_payment_sweep_hands_old_processing_payments_to_reconciliation(
    published, django_capture_on_commit_callbacks
):
    stuck = reserved(TicketFactory())
    TicketPurchase.objects.filter(pk=stuck.pk).update(payment_token="tok_pending")
    purchase_charge(purchase_id=stuck.pk)
    assert tasks.sweep_stuck_purchase_payments() == 0
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.sweep_stuck_purchase_payments() == 1
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.sweep_stuck_purchase_payments() == 0
    later = time_machine.travel(timezone.now() + timedelta(minutes=30))
    with later, django_capture_on_commit_callbacks(execute=True):
        assert tasks.sweep_stuck_purchase_payments() == 1  # still stuck: asked again
    assert published.ids(RECONCILE_TASK) == [str(stuck.pk)] * 2
