"""The booking audit trail: services append a row at every transition of a
booking or its payment, inside the transaction that makes the change."""

from payments.models import Booking, BookingEvent


def booking_log(
    booking: Booking,
    action: str,
    *,
    from_status: str = "",
    to_status: str = "",
    gateway_reference: str = "",
    note: str = "",
) -> None:
    BookingEvent.objects.create(
        booking=booking,
        action=action,
        from_status=from_status,
        to_status=to_status or booking.status,
        gateway_reference=gateway_reference,
        note=note,
    )
