from django.urls import path

from gateways import api

urlpatterns = [
    path("<str:gateway>/", api.GatewayWebhookApi.as_view(), name="payment-webhook"),
]
