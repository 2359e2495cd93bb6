"""Shared pieces of the OpenAPI description: the error shapes every endpoint uses."""

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    name="Error",
    fields={"detail": serializers.CharField(), "code": serializers.CharField()},
)
# A 400 is DRF's validation shape (each field at fault, with its messages), or
# the error shape when the body could not even be parsed (`parse_error`).
VALIDATION_ERROR = {
    "anyOf": [
        {
            "type": "object",
            "description": 'Each input at fault with its messages: {"field": ["message", ...]}',
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        {
            "type": "object",
            "description": "A body that could not be parsed",
            "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
            "required": ["detail", "code"],
        },
    ]
}


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=description)


def invalid(description: str = "Invalid input; nothing was changed") -> OpenApiResponse:
    return OpenApiResponse(response=VALIDATION_ERROR, description=description)


NOT_FOUND = error("No such object")
UNAUTHENTICATED = error("Authentication credentials were not provided or are invalid")
FORBIDDEN = error("Lacks the permission this needs")
THROTTLED = error("Too many requests; see Retry-After")
NO_SUCH_PAGE = error("No such page of the list")
