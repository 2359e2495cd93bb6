from django.apps import AppConfig


class StorefrontConfig(AppConfig):
    """The buyer's pages at `/`: no models, a front end like any other that
    reads through the ticket selectors and buys through the public API."""

    name = "storefront"
    verbose_name = "Storefront"
