"""Cancelling an event (tickets/cancellation/services.py), through its services
with the refund tasks run by hand: the dry run's figures, everything that ends,
every paid purchase refunded once (scanned ones too), a refund refused or lost
counted as such, and a second cancel that changes nothing."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from gateways.attempt import refund_key
from gateways.simulated import SimulatedGateway
from project.tasks import (
    CANCELLATION_REFUND_TASK,
    CANCELLED_ENTRY_MAIL_TASK,
    RECONCILE_TASK,
    REFUND_MAIL_TASK,
)
from tests.factories import (
    PurchaseFactory,
    TicketFactory,
    UserFactory,
    purchase_request,
    wait_in_line,
)
from tests.inventory import assert_inventory_adds_up
from tickets.cancellation.services import (
    REFUND_REASON,
    cancellation_advance,
    cancellation_progress,
    cancellation_refund,
    cancellations_resume,
    entry_cancelled_mail,
    event_cancel,
    event_cancel_figures,
)
from tickets.delivery.services import purchase_refund_notice
from tickets.door.redemption import code_redeem
from tickets.errors import RefundRefused, TicketUnavailable
from tickets.models import EventCancellation, Ticket, TicketCode, TicketPurchase, WaitingListEntry
from tickets.sale.payment import purchase_process
from tickets.sale.purchases import purchase_cancel, purchase_reserve
from tickets.waiting_list.services import waiting_list_join

pytestmark = pytest.mark.django_db

Status = TicketPurchase.Status
PaymentStatus = TicketPurchase.PaymentStatus
State = WaitingListEntry.State


def paid(ticket: Ticket, token: str = "tok_success") -> TicketPurchase:
    purchase = PurchaseFactory(ticket=ticket, quantity=1, payment_token=token)
    purchase_process(purchase_id=purchase.pk)
    purchase.refresh_from_db()
    assert purchase.status == Status.CONFIRMED
    return purchase


def hold(ticket: Ticket) -> TicketPurchase:
    return purchase_reserve(
        purchase_id=PurchaseFactory(ticket=ticket, quantity=1, payment_token="").pk
    )


@pytest.fixture
def event():
    """A sold-out event: 3 paid purchases (one code scanned), a charge in flight,
    an open unpaid hold, one entry waiting in line and one holding an offer."""
    ticket = TicketFactory(total_quantity=6, price=Decimal("80.00"))
    bought = [paid(ticket) for _ in range(3)]
    code = bought[0].codes.first()
    code_redeem(code=code.code, staff_user=UserFactory(is_staff=True))
    flying = purchase_reserve(purchase_id=PurchaseFactory(ticket=ticket, quantity=1).pk)
    assert flying.payment_status == PaymentStatus.PROCESSING
    open_hold, freed = hold(ticket), hold(ticket)
    offered = wait_in_line(ticket, "first@example.com")
    waiting = wait_in_line(ticket, "second@example.com")
    purchase_cancel(purchase_id=freed.pk)  # its seat goes to the first in line as an offer
    offered.refresh_from_db()
    assert offered.state == State.OFFERED
    return {
        "ticket": ticket,
        "paid": bought,
        "flying": flying,
        "hold": open_hold,
        "entries": [offered, waiting],
    }


@pytest.fixture(autouse=True)
def committed(django_capture_on_commit_callbacks):
    """Runs a service and publishes what it enqueued, as its commit would."""

    def run(service, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return service(**kwargs)

    return run


def run_refunds(published, committed, *, times: int = 1) -> None:
    """What the `cancellations` worker does with what was published, `times` over."""
    for _ in range(times):
        for purchase_id in published.ids(CANCELLATION_REFUND_TASK):
            committed(cancellation_refund, purchase_id=purchase_id)


def test_the_dry_run_counts_what_cancelling_would_do_and_changes_nothing(event):
    figures = event_cancel_figures(ticket_id=event["ticket"].pk)

    assert figures == {
        "purchases_to_refund": 3,
        "money_to_refund": {"USD": "240.00"},
        "codes_scanned": 1,
        "open_holds": 1,
        "waiting_list_entries": 1,
        "waiting_list_offers": 1,
        "charges_in_flight": 1,
    }
    assert Ticket.objects.get(pk=event["ticket"].pk).is_on_sale
    assert not EventCancellation.objects.exists()


def test_cancel_ends_everything_open_and_refunds_every_paid_purchase_once(
    event, published, committed, api_client
):
    ticket = event["ticket"]
    cancellation = committed(event_cancel, ticket_id=ticket.pk)
    purchases_before = TicketPurchase.objects.count()
    refused = api_client.post(
        "/api/tickets/purchase/direct/", purchase_request(ticket), format="json"
    )
    assert refused.status_code >= 400
    assert TicketPurchase.objects.count() == purchases_before

    assert cancellation.figures["purchases_to_refund"] == 3
    assert not Ticket.objects.get(pk=ticket.pk).is_on_sale
    with pytest.raises(TicketUnavailable):
        waiting_list_join(
            ticket_id=ticket.pk, customer_name="Late", customer_email="l@x.org", quantity=1
        )
    event["hold"].refresh_from_db()
    assert event["hold"].status == Status.CANCELLED
    assert {e.state for e in WaitingListEntry.objects.filter(ticket=ticket)} == {State.CANCELLED}
    assert sorted(published.ids(CANCELLATION_REFUND_TASK)) == sorted(
        str(p.pk) for p in event["paid"]
    )

    run_refunds(published, committed, times=2)  # a task delivered twice refunds once

    # The charge in flight is captured after the cancel: refunded once captured.
    purchase_process(purchase_id=event["flying"].pk)
    committed(cancellation_advance, cancellation_id=cancellation.pk)
    run_refunds(published, committed)
    cancellation = committed(cancellation_advance, cancellation_id=cancellation.pk)

    gateway = SimulatedGateway()
    refunded = [*event["paid"], event["flying"]]
    for purchase in refunded:
        purchase.refresh_from_db()
        assert purchase.status == Status.REFUNDED
        assert purchase.payment_status == PaymentStatus.REFUNDED
        assert purchase.refund_reason == REFUND_REASON
        assert gateway.refunds_made(str(purchase.pk)) == 1
        assert not purchase.codes.filter(status=TicketCode.Status.VALID).exists()
    # The scanned code keeps its history; every other code is void.
    assert event["paid"][0].codes.filter(status=TicketCode.Status.USED).count() == 1
    assert {str(p.pk) for p in refunded} <= set(published.ids(REFUND_MAIL_TASK))
    assert cancellation.status == EventCancellation.Status.DONE
    assert cancellation_progress(cancellation) == {
        "done": 4,
        "failed": 0,
        "pending": 0,
        "money_refunded": {"USD": "320.00"},
    }
    assert_inventory_adds_up(ticket)


def test_the_buyer_is_told_the_event_was_cancelled(event, published, committed, mailoutbox):
    committed(event_cancel, ticket_id=event["ticket"].pk)
    run_refunds(published, committed)

    assert purchase_refund_notice(purchase_id=event["paid"][1].pk)
    assert "The event has been cancelled." in mailoutbox[-1].body


def test_people_waiting_or_offered_seats_are_told(event, published, committed, mailoutbox):
    unconfirmed = waiting_list_join(
        ticket_id=event["ticket"].pk,
        customer_name="Una",
        customer_email="una@example.com",
        quantity=1,
    )
    committed(event_cancel, ticket_id=event["ticket"].pk)

    told = published.ids(CANCELLED_ENTRY_MAIL_TASK)
    assert sorted(told) == sorted(str(entry.pk) for entry in event["entries"])
    assert str(unconfirmed.pk) not in told  # the address never asked for news
    for entry_id in told:
        assert entry_cancelled_mail(entry_id=entry_id)
    assert {m.subject for m in mailoutbox} == {f"{event['ticket'].name} is cancelled"}
    assert "no longer on offer" in mailoutbox[0].body + mailoutbox[1].body


def test_a_second_cancel_answers_the_first_and_refunds_nothing_twice(event, published, committed):
    first = committed(event_cancel, ticket_id=event["ticket"].pk)
    run_refunds(published, committed)
    sent = len(published)

    again = committed(event_cancel, ticket_id=event["ticket"].pk)

    assert again.pk == first.pk
    assert len(published) == sent
    for purchase in event["paid"]:
        assert SimulatedGateway().refunds_made(str(purchase.pk)) == 1


def test_a_refund_lost_or_interrupted_is_asked_again_and_a_refused_one_counts_failed(
    published, committed
):
    ticket = TicketFactory(total_quantity=3)
    lost, refused, crashed = paid(ticket), paid(ticket, "tok_refund_declined"), paid(ticket)
    SimulatedGateway().fail_next_refund(refund_key(str(lost.pk)))
    cancellation = committed(event_cancel, ticket_id=ticket.pk)

    committed(cancellation_refund, purchase_id=lost.pk)  # the lost answer is asked again
    with pytest.raises(RefundRefused):
        committed(cancellation_refund, purchase_id=refused.pk)
    # A worker died between deciding the refund and asking the gateway.
    TicketPurchase.objects.filter(pk=crashed.pk).update(
        payment_status=PaymentStatus.REFUND_PENDING, refund_reason=REFUND_REASON
    )
    assert cancellation_progress(cancellation)["pending"] == 1

    # While refunds are being recorded, the sweep sends nothing again.
    published.clear()
    EventCancellation.objects.filter(pk=cancellation.pk).update(sweep_claimed_at=None)
    assert committed(cancellations_resume) == 1
    assert published.ids(CANCELLATION_REFUND_TASK) == []

    # Once they stall, it sends the interrupted one again, never the refused one.
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        assert committed(cancellations_resume) == 1
    assert published.ids(CANCELLATION_REFUND_TASK) == [str(crashed.pk)]
    run_refunds(published, committed)
    cancellation = committed(cancellation_advance, cancellation_id=cancellation.pk)

    assert cancellation.status == EventCancellation.Status.DONE
    progress = cancellation_progress(cancellation)
    assert (progress["done"], progress["failed"], progress["pending"]) == (2, 1, 0)
    assert progress["money_refunded"] == {"USD": "160.00"}
    refused.refresh_from_db()
    assert refused.status == Status.CONFIRMED  # still paid, its codes valid: staff decide
    for purchase in (lost, crashed):
        assert SimulatedGateway().refunds_made(str(purchase.pk)) == 1


def test_a_payment_waiting_for_the_buyers_bank_ends_and_its_charge_is_cancelled(
    published, committed
):
    """3-D Secure: the purchase is an open hold like any other; the worker then
    cancels its charge at the gateway (a reconcile of the failed payment)."""
    ticket = TicketFactory(total_quantity=2)
    waiting = purchase_reserve(purchase_id=PurchaseFactory(ticket=ticket, quantity=1).pk)
    TicketPurchase.objects.filter(pk=waiting.pk).update(
        payment_status=PaymentStatus.REQUIRES_ACTION, payment_client_secret="pi_x_secret_y"
    )
    assert event_cancel_figures(ticket_id=ticket.pk)["open_holds"] == 1

    cancellation = committed(event_cancel, ticket_id=ticket.pk)
    committed(cancellation_advance, cancellation_id=cancellation.pk)

    waiting.refresh_from_db()
    assert (waiting.status, waiting.payment_status) == (Status.CANCELLED, PaymentStatus.FAILED)
    assert waiting.payment_client_secret == ""
    assert str(waiting.pk) in published.ids(RECONCILE_TASK)
    ticket.refresh_from_db()
    assert_inventory_adds_up(ticket)
