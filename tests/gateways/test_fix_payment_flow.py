from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.factories import PurchaseFactory, TicketFactory
from tickets.models import TicketPurchase
from tickets.sale.payment import purchase_charge
from tickets.sale.purchases import purchase_reserve

pytestmark = pytest.mark.django_db


def stuck_purchase(token: str) -> TicketPurchase:
    purchase = PurchaseFactory(ticket=TicketFactory(total_quantity=5), payment_token=token)
    purchase_reserve(purchase_id=purchase.pk)
    purchase_charge(purchase_id=purchase.pk)  # tok_pending: no answer
    return purchase


def run(*args) -> str:
    out = StringIO()
    call_command("fix_payment_flow", *args, stdout=out)
    return out.getvalue()


def later():
    return time_machine.travel(timezone.now() + timedelta(minutes=30))


@pytest.fixture
def gateway_never_settles(settings):
    settings.SIMULATED_PENDING_SETTLE_SECONDS = 10**6


def test_list_stuck_prints_a_table_and_changes_nothing(gateway_never_settles):
    purchase = stuck_purchase("tok_pending")
    assert "found 0 stuck" in run("--action", "list-stuck")
    with later():
        output = run("--action", "list-stuck", "--minutes", "15")
    assert str(purchase.pk) in output and "pending" in output
    assert "found 1 stuck payment(s) older than 15 minute(s)" in output
    purchase.refresh_from_db()
    assert purchase.payment_status == "processing"


def test_reconcile_dry_run_says_what_it_would_do_and_does_nothing():
    # Half an hour later the simulated gateway has settled the charge as captured.
    purchase = stuck_purchase("tok_pending")
    with later():
        output = run("--action", "reconcile", "--dry-run")
    assert "confirm" in output and "would reconcile 1" in output
    purchase.refresh_from_db()
    assert purchase.status == "pending"


def test_reconcile_applies_the_gateways_answer():
    purchase = stuck_purchase("tok_pending")
    with later():
        output = run("--action", "reconcile")
    assert "reconciled 1" in output and "confirmed" in output
    purchase.refresh_from_db()
    assert purchase.status == "confirmed" and purchase.codes.count() == purchase.quantity


def test_reconcile_leaves_a_payment_the_gateway_still_cannot_answer(gateway_never_settles):
    purchase = stuck_purchase("tok_pending")
    with later():
        output = run("--action", "reconcile")
    assert "no answer yet" in output
    purchase.refresh_from_db()
    assert purchase.payment_status == "processing"


@pytest.mark.parametrize(
    "args",
    [
        ["--action", "fix-everything"],
        ["--action", "reconcile", "--minutes", "0"],
        ["--action", "reconcile", "--minutes", "soon"],
        [],
    ],
)
def test_bad_arguments_are_clear_errors(args):
    with pytest.raises(CommandError):
        call_command("fix_payment_flow", *args, stdout=StringIO())
