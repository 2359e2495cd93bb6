"""The web's /metrics page (docs/metrics.md): never public by default, and
what a purchase, a sweep's backlog, a refund owed and the beat's inventory
audit look like on it. The page is scraped with Django's test client; the
same page through gunicorn and real workers: tests/workers/test_metrics_pipeline.py."""

import importlib
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from gateways.models import WebhookEvent
from project import tasks
from project.queue import publish
from tests.factories import PurchaseFactory, TicketFactory, purchase_request
from tests.metrics import names, value
from tickets import ledger
from tickets.models import Ticket, TicketPurchase
from tickets.sale.payment import ticket_process_batches

URL = "/api/tickets/purchase/direct/"
TOKEN = "metrics-test-token"
AUTH = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


@pytest.fixture
def scrape(client, settings):
    settings.METRICS_TOKEN = TOKEN

    def scrape() -> str:
        response = client.get("/metrics", **AUTH)
        assert response.status_code == 200
        return response.content.decode()

    return scrape


@pytest.mark.django_db
def test_without_a_token_the_page_is_off(client, settings):
    settings.METRICS_TOKEN = ""
    settings.DEBUG = False
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404


@pytest.mark.django_db
def test_in_debug_without_a_token_only_this_machine_may_read_it(client, settings):
    settings.METRICS_TOKEN = ""
    settings.DEBUG = True
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 404


@pytest.mark.django_db
def test_with_a_token_only_its_bearer_may_read_it(client, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.DEBUG = True  # a token is asked for even from this machine in DEBUG
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401
    assert wrong["WWW-Authenticate"].startswith("Bearer")
    right = client.get("/metrics", **AUTH)
    assert right.status_code == 200
    assert right["Content-Type"].startswith("text/plain")


@pytest.mark.django_db(transaction=True)
def test_a_purchase_is_counted_from_its_202_to_confirmed(api_client, scrape):
    ticket = TicketFactory(total_quantity=10)
    before = scrape()
    data = purchase_request(ticket, quantity=2, payment_token="tok_success")
    assert api_client.post(URL, data, format="json").status_code == 202
    waiting = scrape()
    assert value(waiting, "tickets_purchases_total", outcome="accepted") == (
        value(before, "tickets_purchases_total", outcome="accepted") + 1
    )
    created = dict(view="purchase-create", method="POST", status="202")
    assert value(waiting, "http_request_duration_seconds_count", **created) == (
        value(before, "http_request_duration_seconds_count", **created) + 1
    )
    assert value(waiting, "tickets_purchases", ticket=ticket.pk, status="pending") == 1
    assert value(waiting, "tickets_queue_depth", ticket=ticket.pk) == 1
    assert value(waiting, "tickets_seats", ticket=ticket.pk, state="free") == 10

    ticket_process_batches(ticket_id=ticket.pk)  # what the worker's batch task does
    decided = scrape()
    for outcome in ("confirmed",):
        assert value(decided, "tickets_purchases_total", outcome=outcome) == (
            value(before, "tickets_purchases_total", outcome=outcome) + 1
        )
    assert value(decided, "tickets_accept_to_confirmed_seconds_count") == (
        value(before, "tickets_accept_to_confirmed_seconds_count") + 1
    )
    charged = dict(gateway="simulated", operation="charge_batch", outcome="answered")
    assert value(decided, "tickets_gateway_call_duration_seconds_count", **charged) >= (
        value(before, "tickets_gateway_call_duration_seconds_count", **charged) + 1
    )
    assert value(decided, "tickets_purchases", ticket=ticket.pk, status="confirmed") == 1
    assert value(decided, "tickets_queue_depth", ticket=ticket.pk) == 0
    assert value(decided, "tickets_queue_drained_total", ticket=ticket.pk) == 1
    assert value(decided, "tickets_seats", ticket=ticket.pk, state="sold") == 2
    assert value(decided, "tickets_seats", ticket=ticket.pk, state="free") == 8


@pytest.mark.django_db(transaction=True)
def test_a_declined_purchase_is_counted_failed_with_its_reason(api_client, scrape):
    ticket = TicketFactory(total_quantity=10)
    before = scrape()
    data = purchase_request(ticket, payment_token="tok_decline")
    assert api_client.post(URL, data, format="json").status_code == 202
    ticket_process_batches(ticket_id=ticket.pk)
    after = scrape()
    declined = dict(outcome="failed", reason="payment_declined")
    assert value(after, "tickets_purchases_total", **declined) == (
        value(before, "tickets_purchases_total", **declined) + 1
    )
    assert value(after, "tickets_purchases_total", outcome="confirmed") == value(
        before, "tickets_purchases_total", outcome="confirmed"
    )


@pytest.mark.django_db
def test_only_tickets_on_sale_have_series_of_their_own(scrape):
    on_sale = TicketFactory()
    off_sale = TicketFactory(is_on_sale=False)
    page = scrape()
    assert value(page, "tickets_seats", ticket=on_sale.pk, state="free") == on_sale.total_quantity
    assert f'ticket="{off_sale.pk}"' not in page


@pytest.mark.django_db
def test_stuck_purchases_and_refunds_owed_show_with_their_age(scrape, settings):
    settings.STUCK_PURCHASE_SECONDS = 600
    stuck = PurchaseFactory(status=TicketPurchase.Status.PENDING)
    PurchaseFactory(status=TicketPurchase.Status.PENDING)  # fresh: not stuck
    owed = PurchaseFactory(
        status=TicketPurchase.Status.CONFIRMED,
        payment_status=TicketPurchase.PaymentStatus.REFUND_PENDING,
    )
    an_hour_ago = timezone.now() - timedelta(hours=1)
    TicketPurchase.objects.filter(pk__in=[stuck.pk, owed.pk]).update(updated_at=an_hour_ago)
    page = scrape()
    # The refund owed is not final either, and untouched as long: both are stuck.
    assert value(page, "tickets_purchases_stuck") == 2
    assert 3500 < value(page, "tickets_purchase_oldest_stuck_seconds") < 3700
    assert value(page, "tickets_refunds_pending") == 1
    assert 3500 < value(page, "tickets_refund_pending_oldest_seconds") < 3700


@pytest.mark.django_db
def test_gateway_events_not_yet_handled_are_a_backlog(scrape):
    WebhookEvent.objects.create(gateway="simulated", event_id="handled", payload={})
    WebhookEvent.objects.filter(event_id="handled").update(processed_at=timezone.now())
    WebhookEvent.objects.create(gateway="simulated", event_id="waiting", payload={})
    WebhookEvent.objects.filter(event_id="waiting").update(
        received_at=timezone.now() - timedelta(minutes=5)
    )
    page = scrape()
    assert value(page, "tickets_webhook_events_waiting") == 1
    assert 290 < value(page, "tickets_webhook_oldest_waiting_seconds") < 330


@pytest.mark.django_db
def test_the_beat_audit_reports_a_ticket_whose_inventory_does_not_add_up(scrape):
    sound, broken = TicketFactory(), TicketFactory()
    assert ledger.inventory_audit_record() == 0
    page = scrape()
    assert value(page, "tickets_inventory_broken", ticket=sound.pk) == 0
    assert value(page, "tickets_inventory_broken", ticket=broken.pk) == 0
    assert value(page, "tickets_inventory_audit_timestamp_seconds") > 0
    # A seat vanishes: taken from sale, held by nobody.
    Ticket.objects.filter(pk=broken.pk).update(available_quantity=F("available_quantity") - 1)
    assert ledger.inventory_audit_record() == 1
    page = scrape()
    assert value(page, "tickets_inventory_broken", ticket=sound.pk) == 0
    assert value(page, "tickets_inventory_broken", ticket=broken.pk) == 1


@pytest.mark.django_db
def test_broker_queue_lengths_are_on_the_page(scrape):
    purge_every_queue()
    page = scrape()
    assert "celery_queue_length" in names(page)
    for queue in ("celery", "delivery", "sweeps", "cancellations"):
        assert f'celery_queue_length{{queue="{queue}"}} 0.0' in page
    # No worker consumes here: two messages wait in the pipeline's queue.
    for _ in range(2):
        publish(tasks.PING_TASK, ())
    assert value(scrape(), "celery_queue_length", queue="celery") == 2
    purge_every_queue()


def purge_every_queue() -> None:
    """Each queue the page reports, by name: `control.purge()` empties only the
    queues Celery declares, and an earlier test may have left a delivery waiting."""
    from project.metrics.broker import queue_names
    from workers.celery import app

    with app.connection_for_write() as connection:
        for name in queue_names():
            connection.default_channel.queue_purge(name)


def catalog_series() -> set[str]:
    """The series docs/metrics.md lists (the board and the alert rules are held to it)."""
    text = (settings.BASE_DIR / "docs" / "metrics.md").read_text()
    own = text.split("## From Flower")[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", own, flags=re.MULTILINE))


def exposed_series() -> set[str]:
    """Every series the code defines, in this process (the web's and the workers'
    modules are all loaded here) and on the web page's scrape-time collectors."""
    from prometheus_client import REGISTRY

    from project.metrics.registry import _scrape_collectors

    # The middleware's series and the page's broker collector, defined on import.
    for module in ("project.metrics.http", "project.metrics.view"):
        importlib.import_module(module)

    families = list(REGISTRY.collect())
    for collector in _scrape_collectors:
        families.extend(collector.collect())
    return {
        family.name + ("_total" if family.type == "counter" else "")
        for family in families
        if family.name.startswith(("tickets_", "celery_", "http_"))
    }


@pytest.mark.django_db
def test_the_catalog_lists_exactly_the_series_the_code_exposes():
    assert catalog_series() == exposed_series()
