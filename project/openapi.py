"""Shared pieces of the OpenAPI description: the error shapes every endpoint uses."""

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    name="Error",
    fields={"detail": serializers.CharField(), "code": serializers.CharField()},
)
ValidationErrorSerializer = inline_serializer(
    name="ValidationError",
    fields={"field_name": serializers.ListField(child=serializers.CharField())},
)


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=description)


def invalid(description: str = "Invalid input; nothing was changed") -> OpenApiResponse:
    return OpenApiResponse(response=ValidationErrorSerializer, description=description)


NOT_FOUND = error("No such object")
UNAUTHENTICATED = error("Authentication credentials were not provided or are invalid")
FORBIDDEN = error("Lacks the permission this needs")
THROTTLED = error("Too many requests; see Retry-After")
