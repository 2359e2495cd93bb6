"""Bookings end to end: HTTP API -> Redis broker -> a real Celery worker process,
and the proof that this whole flow never touches the ticket side."""

import pytest

from payments.models import Booking, Payment
from tests.factories import PurchaseFactory, TicketFactory
from tests.payments.factories import DestinationFactory, gateway_calls
from tests.waiting import wait_for
from tickets.models import Ticket, TicketCode, TicketPurchase
from workers.payment_tasks import reconcile_payment, sweep_stuck_payments

pytestmark = pytest.mark.django_db(transaction=True)


def book(api_client, destination, **overrides) -> str:
    body = {
        "destination_id": destination.pk,
        "customer_name": "Amani Juma",
        "customer_email": "amani@example.com",
        "travel_date": "2099-06-01",
        "guests": 2,
        "payment_method": "card",
        "payment_token": "tok_success",
        **overrides,
    }
    response = api_client.post("/api/payments/bookings/", body, format="json")
    assert response.status_code == 202, response.content
    return response.json()["booking_id"]


def wait_until_final(booking_ids, timeout: float = 60.0) -> list[Booking]:
    def settled():
        bookings = list(Booking.objects.filter(pk__in=booking_ids).select_related("payment"))
        return all(b.is_final for b in bookings) and bookings

    return wait_for(settled, timeout=timeout)


def payment_settled(payment: Payment):
    def check():
        current = Payment.objects.get(pk=payment.pk)
        return current.status != Payment.Status.PROCESSING and current

    return check


@pytest.fixture
def destination():
    return DestinationFactory(name="Kilimanjaro", price_per_guest="1350.00")


def test_a_paid_booking_is_confirmed_by_the_worker(worker, api_client, destination, gateway):
    [booking] = wait_until_final([book(api_client, destination)])
    assert (booking.status, booking.payment.status) == ("confirmed", "completed")
    assert str(booking.payment.amount) == "2700.00"
    assert booking.payment.gateway_reference and booking.payment.completed_at
    status = api_client.get(f"/api/payments/bookings/{booking.pk}/status/")
    assert status.json()["status"] == "confirmed" and "Retry-After" not in status
    assert gateway.captures(str(booking.payment.pk)) == 1


def test_a_declined_booking_fails(worker, api_client, destination):
    [booking] = wait_until_final([book(api_client, destination, payment_token="tok_decline")])
    assert (booking.status, booking.failure_reason) == ("failed", "payment_declined")
    assert booking.payment.status == "failed"


def test_a_gateway_that_keeps_failing_is_retried_then_fails_cleanly(
    worker, api_client, destination, gateway
):
    [booking] = wait_until_final([book(api_client, destination, payment_token="tok_error")])
    assert (booking.status, booking.failure_reason) == ("failed", "payment_error")
    # The first try and PAYMENT_MAX_RETRIES=2 retries (set in the root conftest.py).
    assert gateway_calls(gateway, booking.payment) == 3


def test_the_sweep_task_settles_stuck_payments_through_the_worker(worker, stuck_payment, gateway):
    captured = stuck_payment(charged_with="tok_success")
    lost = stuck_payment(token="tok_success", charged_with=None)
    declined = stuck_payment(token="tok_decline", charged_with="tok_decline")
    assert sweep_stuck_payments.delay().get(timeout=20) == 3
    for payment, status in [(captured, "completed"), (lost, "completed"), (declined, "failed")]:
        assert wait_for(payment_settled(payment)).status == status
    assert gateway.captures(str(lost.pk)) == 1


def test_a_reconcile_task_delivered_twice_settles_once(worker, stuck_payment, gateway):
    lost = stuck_payment(token="tok_success", charged_with=None)
    for _ in range(2):
        reconcile_payment.delay(str(lost.pk))
    # The pipeline's tasks store no result: wait for the row, then for the worker.
    wait_for(lambda: Payment.objects.get(pk=lost.pk).status == "completed")
    wait_for(worker.idle)
    assert Payment.objects.get(pk=lost.pk).status == "completed"
    assert gateway.captures(str(lost.pk)) == 1


def ticket_side() -> dict:
    """Everything of the ticket product a booking could conceivably touch."""
    return {
        "tickets": list(Ticket.objects.order_by("pk").values()),
        "purchases": list(TicketPurchase.objects.order_by("pk").values()),
        "codes": list(TicketCode.objects.order_by("pk").values()),
    }


def test_the_booking_flow_leaves_ticket_inventory_and_purchases_unchanged(
    worker, api_client, destination, stuck_payment
):
    ticket = TicketFactory(name="Guided Night Tour", total_quantity=40, available_quantity=40)
    TicketFactory(name="Sunset Dhow Cruise", total_quantity=25, available_quantity=25)
    PurchaseFactory(ticket=ticket, quantity=2)
    before = ticket_side()

    booked = [
        book(api_client, destination, payment_token=token)
        for token in ("tok_success", "tok_decline", "tok_error")
    ]
    waiting = book(api_client, destination, payment_token="", payment_method="bank_transfer")
    wait_until_final(booked)
    stuck = stuck_payment(charged_with="tok_success")
    sweep_stuck_payments.delay().get(timeout=20)
    wait_for(payment_settled(stuck))

    assert ticket_side() == before
    assert Ticket.objects.get(pk=ticket.pk).available_quantity == 40
    assert TicketPurchase.objects.count() == 1
    assert Booking.objects.get(pk=waiting).status == "pending"
    assert Payment.objects.count() == 5
