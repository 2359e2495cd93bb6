"""The polling answer both products' status endpoints give.

An ETag over the state a poller cares about, so an unchanged status costs a
304; `Retry-After` while the object is not final, telling the front end when
to ask again.
"""

import hashlib

from rest_framework import status
from rest_framework.response import Response

POLL_INTERVAL_SECONDS = 1


def state_etag(*parts) -> str:
    state = "|".join(str(part) for part in parts)
    return '"' + hashlib.blake2s(state.encode(), digest_size=8).hexdigest() + '"'


def polling_response(request, body: dict, *, etag: str, final: bool) -> Response:
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if not final:
        headers["Retry-After"] = str(POLL_INTERVAL_SECONDS)
    if etag in request.headers.get("If-None-Match", ""):
        return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(body, headers=headers)
