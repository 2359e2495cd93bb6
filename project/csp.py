"""The Content-Security-Policy (django-csp's middleware sends it): the pages
load scripts, styles, images and API calls from this site only, plus, when
Stripe takes the payments, Stripe.js, its frames and its API, from where the
settings say they are (STRIPE_JS_URL, STRIPE_API_BASE; the tests point both at
a local fake). The API docs page loads Swagger UI from a CDN and is left out,
and so are the API's JSON answers (`PagesCSPMiddleware`).
"""

from urllib.parse import urlsplit

from csp.constants import NONE, SELF
from csp.middleware import CSPMiddleware

STRIPE_JS_URL = "https://js.stripe.com/v3/"
STRIPE_API = "https://api.stripe.com"
# Stripe.js opens its card fields and 3-D Secure challenges in frames of these.
STRIPE_FRAMES = ("https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com")

WITHOUT_POLICY = ("/api/docs/",)
# JSON answers run no script: the hot path (create, status) skips building a policy.
API_PREFIX = "/api/"


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(*, gateway: str, stripe_js_url: str, stripe_api_base: str) -> dict:
    """django-csp's CONTENT_SECURITY_POLICY for the payment gateway in use."""
    scripts, frames, connect = [SELF], [SELF], [SELF]
    if gateway == "stripe":
        scripts.append(origin(stripe_js_url))
        frames += [origin(stripe_js_url), *STRIPE_FRAMES]
        connect.append(origin(stripe_api_base or STRIPE_API))
    return {
        "EXCLUDE_URL_PREFIXES": WITHOUT_POLICY,
        "DIRECTIVES": {
            "default-src": [SELF],
            "script-src": sorted(set(scripts)),
            "frame-src": sorted(set(frames)),
            "connect-src": sorted(set(connect)),
            "img-src": [SELF, "data:"],
            "style-src": [SELF],
            "object-src": [NONE],
            "base-uri": [SELF],
            "form-action": [SELF],
            "frame-ancestors": [NONE],
        },
    }


class PagesCSPMiddleware(CSPMiddleware):
    """django-csp's middleware for the pages (storefront, admin); the API's JSON
    answers go out without the header, and without the cost of building it."""

    def process_request(self, request):
        if not request.path_info.startswith(API_PREFIX):
            super().process_request(request)

    def process_response(self, request, response):
        if request.path_info.startswith(API_PREFIX):
            return response
        return super().process_response(request, response)
