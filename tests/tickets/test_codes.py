"""Ticket codes are unique: the database judges a clash, and a code already
taken is drawn again, without a savepoint (tickets/codes.py)."""

import itertools

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from tests.factories import PurchaseFactory, TicketFactory
from tickets import codes
from tickets.models import TicketCode

pytestmark = pytest.mark.django_db


def test_every_seat_gets_its_own_code_in_one_statement():
    ticket = TicketFactory()
    purchases = [PurchaseFactory(ticket=ticket, quantity=q) for q in (1, 3, 2)]
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        issued = codes.codes_issue_many(purchases)
    assert len(queries) == 1, [q["sql"] for q in queries]
    for purchase in purchases:
        stored = list(purchase.codes.values_list("code", flat=True))
        assert len(stored) == purchase.quantity
        assert all(code.startswith("TKT-") and len(code) == 12 for code in stored)
    stored_codes = TicketCode.objects.values_list("code", flat=True)
    assert sorted(issued) == sorted(stored_codes)


def test_a_code_already_taken_is_drawn_again(monkeypatch):
    ticket = TicketFactory()
    holder = PurchaseFactory(ticket=ticket)
    TicketCode.objects.create(purchase=holder, code="TKT-TAKEN000")
    buyer = PurchaseFactory(ticket=ticket, quantity=3)
    draws = itertools.chain(["TKT-AAAAAAA1", "TKT-TAKEN000", "TKT-AAAAAAA3"], ["TKT-AAAAAAA2"])
    monkeypatch.setattr(codes, "code_generate", lambda: next(draws))

    with transaction.atomic():
        codes.codes_issue_many([buyer])

    assert sorted(buyer.codes.values_list("code", flat=True)) == [
        "TKT-AAAAAAA1",
        "TKT-AAAAAAA2",
        "TKT-AAAAAAA3",
    ]
    assert list(holder.codes.values_list("code", flat=True)) == ["TKT-TAKEN000"]


def test_a_set_drawn_twice_within_itself_is_drawn_again(monkeypatch):
    buyer = PurchaseFactory(quantity=2)
    draws = iter(["TKT-SAME0000", "TKT-SAME0000", "TKT-OTHER000", "TKT-OTHER001"])
    monkeypatch.setattr(codes, "code_generate", lambda: next(draws))

    with transaction.atomic():
        codes.codes_issue_many([buyer])

    assert sorted(buyer.codes.values_list("code", flat=True)) == ["TKT-OTHER000", "TKT-OTHER001"]


def test_it_gives_up_after_a_few_clashes(monkeypatch):
    holder = PurchaseFactory()
    TicketCode.objects.create(purchase=holder, code="TKT-TAKEN000")
    buyer = PurchaseFactory()
    monkeypatch.setattr(codes, "code_generate", lambda: "TKT-TAKEN000")

    with (
        pytest.raises(RuntimeError, match="could not draw unique ticket codes"),
        transaction.atomic(),
    ):
        codes.codes_issue_many([buyer])
    assert not buyer.codes.exists()
