"""A request body larger than REQUEST_BODY_LIMIT_BYTES is refused with 413 before
anything reads it: DRF's JSON parser reads the whole stream and never looks at
DATA_UPLOAD_MAX_MEMORY_SIZE, so one client could otherwise make a web process
hold megabytes per request.

A declared Content-Length over the limit is refused at once. A body without
one (chunked: under WSGI Django reads none of it, under ASGI all of it) is read
up to one byte past the limit: over it is refused, within it is handed on as a
body of known length.
"""

import io

from django.conf import settings
from django.http import JsonResponse

TOO_LARGE_CODE = "request_too_large"
METHODS_WITHOUT_BODY = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class RequestBodyLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.REQUEST_BODY_LIMIT_BYTES
        declared = request.META.get("CONTENT_LENGTH")
        if declared:
            try:
                length = int(declared)
            except ValueError:
                return _refuse(400, "Content-Length is not a number.", "bad_content_length")
            if length > limit:
                return _too_large(limit)
        elif request.method not in METHODS_WITHOUT_BODY:
            body = request.read(limit + 1)
            if len(body) > limit:
                return _too_large(limit)
            if body:
                # Known now: the parsers read it like any body with a length.
                request._stream = io.BytesIO(body)
                request._read_started = False
                request.META["CONTENT_LENGTH"] = str(len(body))
        return self.get_response(request)


def _too_large(limit: int) -> JsonResponse:
    return _refuse(413, f"The request body is larger than {limit} bytes.", TOO_LARGE_CODE)


def _refuse(status: int, detail: str, code: str) -> JsonResponse:
    response = JsonResponse({"detail": detail, "code": code}, status=status)
    # The unread body is still on the connection: do not try to reuse it.
    response["Connection"] = "close"
    return response
