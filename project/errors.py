"""The base of every business-rule error raised by a service.

Services raise these; the API turns them into `{"detail": ..., "code": ...}` with
the error's status, and workers and admin actions catch them by type.
"""


class DomainError(Exception):
    code = "domain_error"
    http_status = 409
    default_detail = "The request conflicts with the current state."

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.default_detail
        super().__init__(self.detail)
