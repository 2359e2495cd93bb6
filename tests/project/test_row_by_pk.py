"""A one-row read compiled once answers what the ORM answers, in one statement
(project/row_by_pk.py), on PostgreSQL and SQLite alike."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from project.row_by_pk import RowByPk
from tests.factories import PurchaseFactory
from tickets.models import TicketPurchase

pytestmark = pytest.mark.django_db

FIELDS = ("id", "status", "failure_reason", "updated_at", "ticket_id", "inventory_reserved")


def test_the_row_and_its_types_are_the_orms():
    reader = RowByPk(TicketPurchase, FIELDS, placeholder=uuid.UUID(int=0))
    purchases = [PurchaseFactory(), PurchaseFactory(failure_reason="sold_out", status="failed")]
    for purchase in purchases * 2:  # compiled on the first read, reused after
        with CaptureQueriesContext(connection) as queries:
            row = reader.get(purchase.pk)
        assert len(queries) == 1
        expected = TicketPurchase.objects.filter(pk=purchase.pk).values_list(*FIELDS).get()
        assert row == dict(zip(FIELDS, expected, strict=True))
        assert isinstance(row["id"], uuid.UUID) and row["updated_at"].tzinfo is not None
        assert row["inventory_reserved"] is False


def test_a_key_with_no_row_reads_none():
    reader = RowByPk(TicketPurchase, FIELDS, placeholder=uuid.UUID(int=0))
    PurchaseFactory()
    assert reader.get(uuid.uuid4()) is None
