from django.apps import AppConfig

from gateways.registry import register_payment_owner


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Destination payments"

    def ready(self) -> None:
        # Imported once the models are loaded: the owner wraps the services.
        from payments.payment_owner import BOOKING_PAYMENTS

        register_payment_owner(BOOKING_PAYMENTS)
