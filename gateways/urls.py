from django.urls import path

from gateways import api
from gateways.stripe.api import StripeWebhookApi

urlpatterns = [
    # Stripe signs its own way (Stripe-Signature): its own endpoint, before the generic one.
    path("stripe/", StripeWebhookApi.as_view(), name="stripe-webhook"),
    path("<str:gateway>/", api.GatewayWebhookApi.as_view(), name="payment-webhook"),
]
