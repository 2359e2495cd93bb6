from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from project.api_auth import ObtainExpiringAuthToken
from project.api_errors import api_route_not_found
from project.health import healthz
from project.metrics.view import metrics

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # Prometheus: never public by default (project/metrics/view.py).
    path("metrics", metrics, name="metrics"),
    # Webhook events moved from the payments app to gateways: old bookmarks still work.
    re_path(
        r"^admin/payments/webhookevent/(?P<rest>.*)$",
        RedirectView.as_view(url="/admin/gateways/webhookevent/%(rest)s", query_string=True),
    ),
    path("admin/", admin.site.urls),
    path("api/auth/token/", ObtainExpiringAuthToken.as_view(), name="auth-token"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/tickets/", include("tickets.urls")),
    # Gateway callbacks keep the address they were first published under.
    path("api/payments/webhooks/", include("gateways.urls")),
    path("api/payments/", include("payments.urls")),
    # Last of the API: what matched no endpoint answers a JSON 404.
    re_path(r"^api/", api_route_not_found),
    path("", include("storefront.urls")),
]
