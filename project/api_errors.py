"""One error shape for the API, and the one place an exception becomes a status.

Validation errors keep DRF's `{"field": ["message"]}` shape (400), and so does a
400 domain error that names the input at fault in its `field`. Every other error
answers `{"detail": "...", "code": "..."}`:

- a domain error raised by a service: its own status and code;
- an object that does not exist (`DoesNotExist` from a service or selector): 404;
- a dependency that could not be reached (the payment gateway, the database,
  the broker): 503 with `Retry-After`, so a client knows to try again.

Views therefore catch none of these themselves.
"""

import logging

from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from project.errors import DependencyUnavailable, DomainError
from project.outages import INFRASTRUCTURE_ERRORS, OUTAGE_CODE, OUTAGE_DETAIL, RETRY_AFTER_SECONDS

logger = logging.getLogger(__name__)


def exception_handler(exc, context):
    response = _own_response(exc, context)
    if response is not None:
        set_rollback()
        return response
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None or isinstance(exc, exceptions.ValidationError):
        return response
    if isinstance(response.data, dict) and "detail" in response.data:
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
        response.data = {
            "detail": str(response.data["detail"]),
            "code": codes if isinstance(codes, str) else "error",
        }
    return response


def _own_response(exc, context) -> Response | None:
    """The errors DRF does not know: domain errors and outages; None for the rest."""
    if isinstance(exc, DomainError):
        return _domain_error(exc)
    if isinstance(exc, DependencyUnavailable):
        # The specific reason (which gateway, what it said) is for the log only.
        logger.warning("%s: %s unavailable: %s", _where(context), exc.code, exc.detail)
        return _unavailable(type(exc).default_detail, exc.code)
    if isinstance(exc, INFRASTRUCTURE_ERRORS):
        logger.exception("%s: database or broker unavailable", _where(context))
        return _unavailable(OUTAGE_DETAIL, OUTAGE_CODE)
    return None


def _domain_error(exc: DomainError) -> Response:
    field = getattr(exc, "field", None)
    if field and exc.http_status == status.HTTP_400_BAD_REQUEST:
        return Response({field: [exc.detail]}, status=exc.http_status)
    # A refusal that lifts after a while (a cap counted in a window) says when.
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    response = Response(
        {"detail": exc.detail, "code": exc.code}, status=exc.http_status, headers=headers
    )
    if exc.routine:
        mark_logged(response)
    return response


def mark_logged(response) -> None:
    """Django's request handler logs every 4xx answer as a warning unless the
    response says it has been logged (`django.utils.log.log_response`); a
    routine refusal says so. Costly in bulk, too: the line took a sixth of a
    sold-out answer's CPU (2026-12-07, in-process)."""
    response._has_been_logged = True


def is_marked_logged(response) -> bool:
    return getattr(response, "_has_been_logged", False)


def _unavailable(detail: str, code: str) -> Response:
    return Response(
        {"detail": detail, "code": code},
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _where(context) -> str:
    request = (context or {}).get("request")
    if request is None:
        return "API"
    return f"{request.method} {request.path}"


@csrf_exempt
def api_route_not_found(request, *args, **kwargs) -> JsonResponse:
    """An /api/ address that names no endpoint, or a path parameter its route
    does not accept (a purchase id that is no UUID): the error shape as JSON, like
    every other API answer, not Django's HTML page."""
    return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
