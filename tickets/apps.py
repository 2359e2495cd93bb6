from django.apps import AppConfig

from gateways.registry import register_payment_owner


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = "Tickets"

    def ready(self) -> None:
        # Imported once the models are loaded: the owner wraps the services.
        from tickets.payment_owner import TICKET_PURCHASES

        register_payment_owner(TICKET_PURCHASES)
