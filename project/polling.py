"""The polling answer both products' status endpoints give, and the fast JSON
response the hot endpoints render with.

An ETag over the state a poller cares about, so an unchanged status costs a
304; `Retry-After` while the object is not final, telling the front end when
to ask again (by default POLL_INTERVAL_SECONDS; a caller that knows better, a
ticket's queue, says so).

The body is rendered by orjson, not DRF's renderer: it is the same JSON for the
plain values these endpoints answer (strings, numbers, None, lists), and
anything else falls back to DRF's own encoder, so the output never differs.
"""

import hashlib

import orjson
from django.http import HttpResponse
from rest_framework import status
from rest_framework.utils.encoders import JSONEncoder

POLL_INTERVAL_SECONDS = 1

_drf_default = JSONEncoder().default
# Datetimes, UUID subclasses and dataclasses go to DRF's encoder (its own
# formats); orjson writes str, int, float, bool, None, dict, list, UUID itself.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def json_response(body, *, status: int = status.HTTP_200_OK, headers=None) -> HttpResponse:
    return HttpResponse(
        orjson.dumps(body, default=_drf_default, option=_OPTIONS),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def state_etag(*parts) -> str:
    state = "|".join(str(part) for part in parts)
    return '"' + hashlib.blake2s(state.encode(), digest_size=8).hexdigest() + '"'


def polling_response(
    request,
    body: dict,
    *,
    etag: str,
    final: bool,
    retry_after: int = POLL_INTERVAL_SECONDS,
) -> HttpResponse:
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if not final:
        headers["Retry-After"] = str(retry_after)
    if etag in request.headers.get("If-None-Match", ""):
        return HttpResponse(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return json_response(body, headers=headers)
