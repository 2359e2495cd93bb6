"""One error shape for the API.

Validation errors keep DRF's `{"field": ["message"]}` shape (400). Every other
error answers `{"detail": "...", "code": "..."}`, including domain errors
raised by services.
"""

from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from project.errors import DomainError


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response({"detail": exc.detail, "code": exc.code}, status=exc.http_status)
    if isinstance(exc, Http404):
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
