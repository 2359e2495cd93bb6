from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from tickets.models import Ticket, TicketPurchase, WaitingListEntry
from tickets.waiting_list.services import waiting_list_confirm, waiting_list_join


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class TicketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Ticket

    name = factory.Sequence(lambda n: f"Event {n}")
    venue = "Main Hall"
    destination_name = "Zanzibar"
    starts_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))
    price = Decimal("80.00")
    currency = "USD"
    total_quantity = 100
    available_quantity = factory.LazyAttribute(lambda ticket: ticket.total_quantity)


class PurchaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TicketPurchase

    ticket = factory.SubFactory(TicketFactory)
    customer_name = "Test Customer"
    customer_email = factory.Sequence(lambda n: f"buyer{n}@example.com")
    quantity = 2
    unit_price = factory.LazyAttribute(lambda purchase: purchase.ticket.price)
    total_amount = factory.LazyAttribute(lambda purchase: purchase.unit_price * purchase.quantity)
    currency = "USD"
    payment_method = TicketPurchase.PaymentMethod.CARD
    payment_token = "tok_success"
    hold_expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=15))


def purchase_request(ticket, **overrides) -> dict:
    """A valid body for `POST /api/tickets/purchase/direct/`, paid by card."""
    return {
        "ticket_id": ticket.pk,
        "quantity": 1,
        "customer_name": "Ann Buyer",
        "customer_email": "ann@example.com",
        "payment_method": "card",
        "payment_token": "tok_success",
        **overrides,
    }


def wait_in_line(
    ticket, email: str, quantity: int = 1, *, name: str = "Wendy", client_address=None
) -> WaitingListEntry:
    """An entry in the ticket's line, got there as a buyer gets there: a join,
    then the confirmation from the e-mailed link. Seats kept for the line may
    be offered to it at once, as to any newcomer."""
    entry = waiting_list_join(
        ticket_id=ticket.pk,
        customer_name=name,
        customer_email=email,
        quantity=quantity,
        client_address=client_address,
    )
    return waiting_list_confirm(entry_id=entry.pk)
