"""The one lock order of a destination booking's rows: the payment, then its
booking. Every transition (payments/services.py, payments/refunds.py) takes
them through here, inside its own transaction."""

from uuid import UUID

from payments.models import Booking, Payment


def payment_locked(payment_id: UUID | str) -> Payment:
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    payment.booking = Booking.objects.select_for_update().get(pk=payment.booking_id)
    return payment
