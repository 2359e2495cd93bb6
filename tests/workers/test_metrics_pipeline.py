"""Metrics of a real sale (docs/metrics.md): gunicorn with two processes and a
real worker with a prefork pool of two, each group adding its processes'
figures up in a multiprocess directory of its own, as production runs them.
After purchases through them, the web's /metrics counts the 202s and the
request latencies, and the worker's own page counts what its pool's children
did: confirmed, completed, the accept-to-confirmed histogram, the gateway's
calls and the tasks by name."""

import pytest
import requests

from devtools.embedded_redis import free_port
from tests.factories import TicketFactory, purchase_request
from tests.metrics import value
from tests.waiting import describe, wait_until_final
from tests.worker_process import WebServer
from tickets.models import TicketPurchase

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TOKEN = "pipeline-metrics-token"
BUYERS = 3


@pytest.fixture
def sale(start_worker, tmp_path):
    port = free_port()
    worker = start_worker(
        "metrics",
        concurrency=2,
        extra_env={
            "WORKER_METRICS_PORT": str(port),
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "worker"),
        },
    )
    web = WebServer(
        workers=2,
        extra_env={"METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "web")},
    ).start()
    yield web, worker, f"http://127.0.0.1:{port}/metrics"
    web.stop()


def web_page(web) -> str:
    response = requests.get(
        f"{web.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.text


def test_a_sale_is_counted_on_the_web_and_the_worker_pages(sale):
    web, _worker, worker_metrics = sale
    assert requests.get(f"{web.url}/metrics", timeout=10).status_code == 401
    ticket = TicketFactory(total_quantity=10)
    ids = []
    for n in range(BUYERS):
        body = purchase_request(ticket, customer_email=f"m{n}@example.com")
        response = requests.post(f"{web.url}/api/tickets/purchase/direct/", json=body, timeout=10)
        assert response.status_code == 202, response.text
        ids.append(response.json()["purchase_id"])
    for purchase in wait_until_final(ids, timeout=60):
        assert purchase.status == TicketPurchase.Status.COMPLETED, describe(purchase)

    page = web_page(web)
    # Both gunicorn processes' figures, added up: every 202 is there.
    assert value(page, "tickets_purchases_total", outcome="accepted") == BUYERS
    created = dict(view="purchase-create", method="POST", status="202")
    assert value(page, "http_request_duration_seconds_count", **created) == BUYERS
    assert value(page, "http_request_duration_seconds_bucket", le="+Inf", **created) == BUYERS
    assert value(page, "tickets_purchases", ticket=ticket.pk, status="completed") == BUYERS
    assert value(page, "tickets_seats", ticket=ticket.pk, state="sold") == BUYERS

    worker_page = requests.get(worker_metrics, timeout=10).text
    assert value(worker_page, "tickets_purchases_total", outcome="confirmed") == BUYERS
    assert value(worker_page, "tickets_purchases_total", outcome="completed") == BUYERS
    assert value(worker_page, "tickets_accept_to_confirmed_seconds_count") == BUYERS
    assert (
        value(worker_page, "tickets_gateway_call_duration_seconds_count", gateway="simulated") > 0
    )
    batches = dict(task="tickets.process_ticket_batch", state="succeeded")
    assert value(worker_page, "celery_tasks_total", **batches) >= 1
    assert (
        value(
            worker_page, "celery_task_duration_seconds_count", task="tickets.process_ticket_batch"
        )
        >= 1
    )
