from django.apps import AppConfig

from gateways.registry import register_payment_owner
from project.metrics import register_scrape_collector


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = "Tickets"

    def ready(self) -> None:
        # Imported once the models are loaded: the owner wraps the services.
        from tickets.console.metrics import SaleCollector
        from tickets.payment_owner import TICKET_PURCHASES

        register_payment_owner(TICKET_PURCHASES)
        register_scrape_collector(SaleCollector())
