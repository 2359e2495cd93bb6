"""Unit tests of single tasks, run in this process with `apply()`; the pipeline's
proof with a real worker is in test_pipeline.py."""

import logging

import pytest
from django.db import OperationalError

from gateways.simulated import SimulatedGateway
from tests.factories import PurchaseFactory, TicketFactory
from tickets.models import Ticket, TicketPurchase
from tickets.sale import payment
from tickets.sale.payment import purchase_confirm
from workers import tasks

pytestmark = pytest.mark.django_db


def test_an_unexpected_failure_is_logged_with_the_purchase_id_and_leaves_data_consistent(
    monkeypatch, caplog
):
    def broken_charge(self, **kwargs):
        raise RuntimeError("gateway client bug")

    monkeypatch.setattr(SimulatedGateway, "charge", broken_charge)
    ticket = TicketFactory(total_quantity=5)
    purchase = PurchaseFactory(ticket=ticket, quantity=2)
    with caplog.at_level(logging.ERROR, logger="workers.tasks"):
        result = tasks.process_purchase.apply(args=[str(purchase.pk)])
    assert result.failed()
    assert str(purchase.pk) in caplog.text
    purchase.refresh_from_db()
    # Seats held and the payment marked in flight: the stuck-payment sweep settles it.
    assert (purchase.status, purchase.payment_status) == ("pending", "processing")
    assert purchase.inventory_reserved
    assert Ticket.objects.get(pk=ticket.pk).available_quantity == 3


def test_a_task_for_a_purchase_that_does_not_exist_is_dropped_quietly(caplog):
    missing = "00000000-0000-0000-0000-000000000000"
    with caplog.at_level(logging.WARNING, logger="workers.tasks"):
        result = tasks.process_purchase.apply(args=[missing])
    assert result.successful() and missing in caplog.text


def test_running_the_processing_task_twice_changes_nothing_the_second_time():
    ticket = TicketFactory(total_quantity=5)
    purchase = PurchaseFactory(ticket=ticket, quantity=2)
    tasks.process_purchase.apply(args=[str(purchase.pk)])
    first = TicketPurchase.objects.get(pk=purchase.pk)
    tasks.process_purchase.apply(args=[str(purchase.pk)])
    second = TicketPurchase.objects.get(pk=purchase.pk)
    assert first.status == second.status == "confirmed"
    assert first.updated_at == second.updated_at
    assert second.codes.count() == 2
    assert Ticket.objects.get(pk=ticket.pk).available_quantity == 3


def test_purchase_tasks_are_acknowledged_late_and_rejected_when_their_worker_dies():
    for task in (tasks.process_purchase, tasks.reconcile_purchase_payment, tasks.deliver_purchase):
        assert task.acks_late and task.reject_on_worker_lost, task.name


def test_a_database_outage_is_waited_out_with_retries_not_dropped(monkeypatch, caplog):
    """The database went away mid-task (e.g. after the gateway captured): the task
    retries until it is back, and the purchase is confirmed, not left processing."""
    purchase = PurchaseFactory(ticket=TicketFactory(total_quantity=5), quantity=1)
    real_confirm = purchase_confirm
    outage = iter([True, True, False])

    def confirm_after_outage(**kwargs):
        if next(outage):
            raise OperationalError("connection to server was lost")
        return real_confirm(**kwargs)

    monkeypatch.setattr(payment, "purchase_confirm", confirm_after_outage)
    with caplog.at_level(logging.WARNING, logger="workers.tasks"):
        result = tasks.process_purchase.apply(args=[str(purchase.pk)])
    assert result.successful()
    assert "database or broker unavailable" in caplog.text
    purchase.refresh_from_db()
    assert (purchase.status, purchase.codes.count()) == ("confirmed", 1)
    assert SimulatedGateway().captures(str(purchase.pk)) == 1
