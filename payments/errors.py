from project import errors
from project.errors import DomainError


class BookingRejected(DomainError):
    """A booking the service refuses to create; `field` names the input at fault,
    so the API can answer in DRF's validation shape."""

    code = "booking_rejected"
    http_status = 400
    field = "non_field_errors"


class DestinationUnavailable(BookingRejected):
    code = "destination_unavailable"
    field = "destination_id"
    default_detail = "This destination does not exist or is not open for booking."


class TravelDateInvalid(BookingRejected):
    code = "travel_date_invalid"
    field = "travel_date"
    default_detail = "The travel date must be in the future."


class GuestsInvalid(BookingRejected):
    code = "guests_invalid"
    field = "guests"
    default_detail = "The number of guests is out of range."


class IllegalTransition(errors.IllegalTransition):
    default_detail = "The booking or payment cannot make this move from its current state."


class BookingNotPending(IllegalTransition):
    code = "booking_not_pending"
    default_detail = "The booking is no longer pending."


class PaymentInProgress(IllegalTransition):
    code = "payment_in_progress"
    default_detail = "A payment is in progress; the sweep will settle it."


class RefundRefused(errors.RefundRefused):
    default_detail = "This payment cannot be refunded."
