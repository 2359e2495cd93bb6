"""The Stripe adapter: PaymentIntents through the official SDK behind the
PaymentGateway interface (gateways/base.py), and Stripe's signed webhooks.

client.py builds the SDK client and converts amounts; outcomes.py maps what
Stripe answers to our outcomes; gateway.py charges, looks up and refunds;
events.py verifies and reads webhooks; api.py is their endpoint.
"""

from gateways.stripe.gateway import StripeGateway

__all__ = ["StripeGateway"]
