"""A task run binds its id, its name and the object its arguments name
(workers/log_context.py), for its lines only; a purchase's lines add the
request id it was created by."""

import pytest

from project import log_context
from project.tasks import PROCESS_TASK
from tests.factories import PurchaseFactory
from tests.log_capture import json_log
from tickets.models import TicketPurchase
from workers.tasks import process_purchase, process_ticket_batch

pytestmark = pytest.mark.django_db


def test_a_purchase_task_binds_its_ids_and_its_purchases_request_id(published):
    purchase = PurchaseFactory(request_id="web-request-7", payment_token="tok_success")

    with json_log() as lines:
        result = process_purchase.apply(args=[str(purchase.pk)])

    assert result.get() == TicketPurchase.Status.CONFIRMED
    [confirmed] = [line for line in lines() if line["logger"] == "tickets.sale.payment"]
    assert "confirmed" in confirmed["message"]
    assert confirmed["task_id"] == result.id and confirmed["task_name"] == PROCESS_TASK
    assert confirmed["purchase_id"] == str(purchase.pk)
    assert confirmed["request_id"] == "web-request-7"
    assert all(line.get("task_id") == result.id for line in lines())  # Celery's own too
    assert log_context.current() == {}  # unbound when the task ended


def test_a_ticket_task_binds_the_ticket(published):
    purchase = PurchaseFactory(request_id="web-request-8", payment_token="tok_success")

    with json_log() as lines:
        process_ticket_batch.apply(args=[purchase.ticket_id])

    reserved, confirmed = [line for line in lines() if line.get("purchase_id")]
    for line in (reserved, confirmed):
        assert line["ticket_id"] == str(purchase.ticket_id)
        assert line["request_id"] == "web-request-8"
    assert log_context.current() == {}
