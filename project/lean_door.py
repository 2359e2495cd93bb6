"""A lean door: the plain Django path for the requests a flash sale sends by
the thousand, the DRF view for everything else.

DRF's APIView costs a request object, content negotiation, authentication,
permission and throttle checks and a renderer, even when none of them can
change the answer: an anonymous client posting JSON, or polling, asking for
JSON. A lean door serves exactly those with a plain function (`fast`) and
hands every other request (a token or a session to authenticate, another
method, another media type or format, a body the fast path declines) to the
DRF view unchanged, so every answer DRF gave is still given, byte for byte
where the fast path answers: the same body, status and headers, DRF's `Allow`
(and `Vary`) included. The URL callback keeps the DRF view's `cls` and
`initkwargs`, so the OpenAPI schema is generated from the DRF view as before.

`fast(request, *args, **kwargs)` returns the response, or None to decline (the
DRF view then answers). An API error it raises is answered in the API's shape
by the project's exception handler, as DRF would (project/api_errors.py).
"""

from collections.abc import Callable

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt
from rest_framework.views import APIView

from project.api_errors import exception_handler, is_marked_logged, mark_logged
from project.polling import json_response

# What DRF's JSON renderer accepts; DRF weighs no q-values, so any of these in
# `Accept` makes it answer JSON.
_JSON_RANGES = frozenset({"*/*", "application/*", "application/json"})


def accepts_json(request: HttpRequest) -> bool:
    accept = request.META.get("HTTP_ACCEPT")
    if not accept:
        return True
    return any(part.split(";", 1)[0].strip() in _JSON_RANGES for part in accept.split(","))


def is_plain(request: HttpRequest) -> bool:
    """Nothing DRF would act on: no credentials to check (a token, a session, a
    user DRF's test client forces), no `?format=`, and JSON acceptable."""
    meta = request.META
    return (
        "HTTP_AUTHORIZATION" not in meta
        and getattr(request, "_force_auth_user", None) is None
        and settings.SESSION_COOKIE_NAME not in request.COOKIES
        and "format" not in request.GET
        and accepts_json(request)
    )


def plain_json(request: HttpRequest):
    """The body as DRF's JSON parser would give it, or None where the fast path
    declines and leaves the parsing (and the wording of its errors) to DRF: not
    `application/json` in UTF-8, an empty body, or anything orjson refuses."""
    if request.content_type != "application/json" or not request.body:
        return None
    if request.content_params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
        return None
    try:
        return orjson.loads(request.body)
    except orjson.JSONDecodeError:
        return None


def api_error(exc: Exception, request: HttpRequest) -> HttpResponse:
    """An exception raised on the fast path, answered as DRF would answer it;
    re-raised when DRF would not handle it (a 500, as from the DRF view)."""
    answer = exception_handler(exc, {"request": request, "view": None})
    if answer is None:
        raise exc
    headers = {key: value for key, value in answer.items() if key.lower() != "content-type"}
    response = json_response(answer.data, status=answer.status_code, headers=headers)
    if is_marked_logged(answer):
        mark_logged(response)
    return response


def lean_door(
    view_class: type[APIView], fast: Callable[..., HttpResponse | None], *, methods: tuple
) -> Callable:
    drf_view = view_class.as_view()
    drf_headers = _drf_headers(view_class)

    def door(request, *args, **kwargs):
        if request.method in methods and is_plain(request):
            # As DRF's authentication does: the user is read from the session
            # (no query without a session cookie), which answers `Vary: Cookie`.
            request.user.is_authenticated  # noqa: B018
            response = fast(request, *args, **kwargs)
            if response is not None:
                return _as_drf_would(response, drf_headers)
        return drf_view(request, *args, **kwargs)

    door.cls = drf_view.cls  # the schema generator reads the DRF view from these
    door.initkwargs = drf_view.initkwargs
    return csrf_exempt(door)


def _drf_headers(view_class: type[APIView]) -> dict:
    """The headers DRF adds to every answer of the view (`Allow`, `Vary`), as
    an instance set up for a request has them (a GET handler also serves HEAD)."""
    view = view_class()
    if hasattr(view, "get") and not hasattr(view, "head"):
        view.head = view.get
    return dict(view.default_response_headers)


def _as_drf_would(response: HttpResponse, headers: dict) -> HttpResponse:
    headers = dict(headers)
    vary = headers.pop("Vary", None)
    if vary is not None:
        patch_vary_headers(response, [v.strip() for v in vary.split(",")])
    for key, value in headers.items():
        response[key] = value
    return response
