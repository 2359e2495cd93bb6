"""The errors services raise on purpose, each with its API code and status.

Services raise these; the API turns them into `{"detail": ..., "code": ...}` with
the error's status (project/api_errors.py), and workers and admin actions catch
them by type.
"""


class ServiceError(Exception):
    code = "error"
    http_status = 500
    default_detail = "The request failed."

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.default_detail
        super().__init__(self.detail)


class DomainError(ServiceError):
    """A business rule refused the request: retrying the same thing cannot help."""

    code = "domain_error"
    http_status = 409
    default_detail = "The request conflicts with the current state."
    # A refusal the product gives by the thousand in the ordinary course (sold
    # out, in a flash sale): answered as any other, but not logged as a warning
    # by django.request. The metrics count it (http_request_duration_seconds).
    routine = False


class DependencyUnavailable(ServiceError):
    """Something outside this service (the payment gateway, the database, the
    broker) could not be reached: nothing was changed, and trying again later
    may succeed. The API answers 503 with Retry-After; tasks retry."""

    code = "service_unavailable"
    http_status = 503
    default_detail = "A service this request depends on is unavailable; nothing was changed."


class IllegalTransition(DomainError):
    """The object cannot make this move from its current state. Each product
    subclasses it with its own message (tickets/errors.py, payments/errors.py);
    code that serves both catches this one."""

    code = "illegal_transition"
    default_detail = "This cannot make that move from its current state."


class RefundRefused(DomainError):
    """The money cannot go back; each product says why in its own words."""

    code = "refund_refused"
    default_detail = "This cannot be refunded."
