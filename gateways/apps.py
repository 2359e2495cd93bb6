from django.apps import AppConfig

from project.metrics import register_scrape_collector


class GatewaysConfig(AppConfig):
    name = "gateways"
    verbose_name = "Payment gateways"

    def ready(self) -> None:
        from gateways.webhook_metrics import WebhookBacklogCollector

        register_scrape_collector(WebhookBacklogCollector())
