from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from payments.models import Booking, Destination, Payment


class DestinationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Destination
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Destination {n}")
    country = "Tanzania"
    region = "Arusha"
    price_per_guest = Decimal("250.00")
    currency = "USD"


class BookingFactory(factory.django.DjangoModelFactory):
    """A pending booking with its pending payment, as `booking_create` makes them.
    Set the payment's fields with `payment__...` (e.g. `payment__payment_token`)."""

    class Meta:
        model = Booking
        skip_postgeneration_save = True

    destination = factory.SubFactory(DestinationFactory)
    customer_name = "Test Guest"
    customer_email = factory.Sequence(lambda n: f"guest{n}@example.com")
    travel_date = factory.LazyFunction(lambda: timezone.localdate() + timedelta(days=30))
    guests = 2
    total_amount = factory.LazyAttribute(lambda b: b.destination.price_per_guest * b.guests)
    currency = factory.LazyAttribute(lambda b: b.destination.currency)
    payment = factory.RelatedFactory(
        "tests.payments.factories.PaymentFactory", factory_related_name="booking"
    )


class PaymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Payment

    booking = factory.SubFactory(BookingFactory, payment=None)
    amount = factory.LazyAttribute(lambda p: p.booking.total_amount)
    currency = factory.LazyAttribute(lambda p: p.booking.currency)
    method = Payment.Method.CARD
    payment_token = "tok_success"


def payment_of(**booking_kwargs) -> Payment:
    """A fresh booking's payment, re-read from the database."""
    booking = BookingFactory(**booking_kwargs)
    return Payment.objects.select_related("booking").get(booking=booking)


def make_stuck(
    gateway, *, token="tok_success", charged_with=None, minutes_ago=30, **booking
) -> Payment:
    """See the `stuck_payment` fixture."""
    payment = payment_of(payment__payment_token=token, **booking)
    if charged_with:
        gateway.charge(
            idempotency_key=str(payment.pk),
            amount=payment.amount,
            currency=payment.currency,
            token=charged_with,
        )
    Payment.objects.filter(pk=payment.pk).update(
        status=Payment.Status.PROCESSING,
        processing_started_at=timezone.now() - timedelta(minutes=minutes_ago),
    )
    return Payment.objects.select_related("booking").get(pk=payment.pk)


def gateway_calls(gateway, payment: Payment) -> int:
    """How many times the simulated gateway was asked to charge this payment."""
    return int(gateway.redis.get(f"simgw:calls:{payment.pk}") or 0)
