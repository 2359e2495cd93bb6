"""Gateway events received and not yet handled, read when the web's metrics
page is scraped: `tickets_webhook_events_waiting` and the oldest one's age
(the WebhookBacklog alert). A partial index keeps it to the waiting rows."""

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from gateways.models import WebhookEvent


class WebhookBacklogCollector(Collector):
    def collect(self):
        found = WebhookEvent.objects.filter(processed_at__isnull=True).aggregate(
            n=Count("id"), oldest=Min("received_at")
        )
        oldest = found["oldest"]
        yield GaugeMetricFamily(
            "tickets_webhook_events_waiting",
            "Gateway events received and not yet handled.",
            value=found["n"],
        )
        yield GaugeMetricFamily(
            "tickets_webhook_oldest_waiting_seconds",
            "Age of the oldest gateway event not yet handled (0 when none).",
            value=(timezone.now() - oldest).total_seconds() if oldest else 0.0,
        )
