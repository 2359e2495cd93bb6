"""What an outage of the database or the broker looks like, and how every
endpoint answers one: 503 in the API's error shape, with Retry-After, never a
500 or an HTML page. DRF views answer through project/api_errors.py; the rest
(admin, health, anything outside DRF) through `OutageMiddleware`."""

import logging

import kombu.exceptions
import redis.exceptions
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

logger = logging.getLogger(__name__)

# How long a client should wait before trying again after a 503.
RETRY_AFTER_SECONDS = 5

# The database or the broker could not be reached (or dropped the connection).
INFRASTRUCTURE_ERRORS = (
    OperationalError,
    InterfaceError,
    kombu.exceptions.OperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
OUTAGE_DETAIL = "The service is temporarily unavailable. Try again later."
OUTAGE_CODE = "service_unavailable"


class OutageMiddleware:
    """Turns an outage raised outside DRF into the API's 503."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, INFRASTRUCTURE_ERRORS):
            return None
        logger.exception("%s %s: database or broker unavailable", request.method, request.path)
        response = JsonResponse({"detail": OUTAGE_DETAIL, "code": OUTAGE_CODE}, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
