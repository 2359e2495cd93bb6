"""The project's URLs plus one view that fails as a bug would, holding a buyer's
details in its request and its variables: only tests/project/test_error_tracking.py
routes here (`pytest.mark.urls`), the product has no such endpoint."""

from django.urls import include, path
from rest_framework.decorators import api_view

PROBE_PATH = "/api/error-tracking-probe/"


class ProbeError(Exception):
    """The bug: its type must reach Sentry, the details in its message must not."""


@api_view(["POST"])
def failing_charge(request):
    customer = dict(request.data)
    customer_name = customer["customer_name"]
    customer_email = customer["customer_email"]
    payment_token = customer["payment_token"]
    note = f"charging {customer_name} <{customer_email}> with {payment_token}"
    raise ProbeError(f"gateway choked: {note}")


urlpatterns = [
    path(PROBE_PATH.strip("/") + "/", failing_charge),
    path("", include("project.urls")),
]
