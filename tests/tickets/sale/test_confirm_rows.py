"""A batch's captured purchases are confirmed in one UPDATE, each with its own
gateway reference, and nothing else is touched (tickets/sale/confirm_rows.py)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories import PurchaseFactory, TicketFactory
from tickets.models import TicketPurchase
from tickets.sale.confirm_rows import purchases_confirm_rows

pytestmark = pytest.mark.django_db

Status = TicketPurchase.Status


def test_each_purchase_gets_its_reference_in_one_statement():
    ticket = TicketFactory()
    batch = [PurchaseFactory(ticket=ticket) for _ in range(3)]
    bystander = PurchaseFactory(ticket=ticket)
    now = timezone.now()
    for n, purchase in enumerate(batch):
        purchase.status = Status.CONFIRMED
        purchase.payment_status = TicketPurchase.PaymentStatus.COMPLETED
        purchase.gateway_reference = f"pi_{n}"
        purchase.confirmed_at = purchase.updated_at = now
    with CaptureQueriesContext(connection) as queries:
        purchases_confirm_rows(batch)
    assert len(queries) == 1
    for n, purchase in enumerate(batch):
        stored = TicketPurchase.objects.get(pk=purchase.pk)
        assert (stored.status, stored.payment_status) == (Status.CONFIRMED, "completed")
        assert stored.gateway_reference == f"pi_{n}"
        assert stored.confirmed_at == now and stored.updated_at == now
    untouched = TicketPurchase.objects.get(pk=bystander.pk)
    assert untouched.status == Status.PENDING and untouched.gateway_reference == ""
    assert untouched.confirmed_at is None
