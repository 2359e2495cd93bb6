"""One purchase followed through the logs by its request id: a trusted proxy's
`X-Request-ID` -> the web (gunicorn) -> the Redis broker -> a real pipeline
worker -> a real mailer sending to a real SMTP server, every process logging
JSON (LOG_FORMAT=json). The batch and the mailer decide many purchases per
task, so the request id reaches them only through the purchase's row."""

import json
import urllib.request
import uuid

import pytest

from project.tasks import BATCH_TASK, DELIVER_BATCH_TASK
from tests.factories import TicketFactory, purchase_request
from tests.mailbox import Mailbox
from tests.waiting import wait_for, wait_until_final
from tests.worker_process import WebServer
from tickets.models import TicketPurchase

pytestmark = pytest.mark.django_db(transaction=True)

JSON_LOGS = {"LOG_FORMAT": "json"}


@pytest.fixture
def web_and_mailer(start_worker):
    """Web behind a trusted proxy (the test, on loopback) and a mailer on the
    `delivery` queue alone, as the Procfile runs it; the test starts the
    pipeline worker when it wants its batch to begin."""
    mailbox = Mailbox().start()
    mailer = start_worker(
        "trail-mailer",
        concurrency=1,
        extra_env={**JSON_LOGS, "EMAIL_URL": mailbox.url},
        queues="delivery",
    )
    proxy_trusted = {"NUM_PROXIES": "1", "TRUSTED_PROXIES": "127.0.0.1"}
    web = WebServer(workers=1, threads=2, extra_env={**JSON_LOGS, **proxy_trusted}).start()
    yield web, mailer
    web.stop()
    mailbox.stop()


def post_purchase(web: WebServer, body: dict, request_id: str):
    request = urllib.request.Request(
        f"{web.url}/api/tickets/purchase/direct/",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-Request-ID": request_id},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.headers["X-Request-ID"], json.loads(response.read())


def json_lines(output: str) -> list[dict]:
    """The log's JSON lines (Celery's banner and gunicorn's own lines are not)."""
    lines = []
    for text in output.splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict):
            lines.append(line)
    return lines


def about(lines: list[dict], request_id: str) -> list[dict]:
    return [line for line in lines if line.get("request_id") == request_id]


def test_one_grep_of_the_request_id_follows_the_purchase_through_every_process(
    web_and_mailer, start_worker
):
    web, mailer = web_and_mailer
    ticket = TicketFactory(total_quantity=10)
    purchases = {}  # request id -> purchase id, two buyers, two requests
    for _ in range(2):
        request_id = f"trail-{uuid.uuid4().hex}"
        status, echoed, body = post_purchase(web, purchase_request(ticket, quantity=2), request_id)
        assert (status, echoed) == (202, request_id)
        purchases[request_id] = body["purchase_id"]
    # Both wait in the ticket's line, so one batch decides them together. The
    # pipeline worker runs threads, as the Procfile's does.
    worker = start_worker(
        "trail-worker",
        concurrency=2,
        extra_env={**JSON_LOGS, "CELERY_WORKER_POOL": "threads"},
        queues="celery,sweeps,cancellations",
        purge=False,
    )
    done = wait_until_final(purchases.values())
    assert {purchase.status for purchase in done} == {TicketPurchase.Status.COMPLETED}
    assert {p.request_id: str(p.pk) for p in done} == purchases
    all_mailed = lambda: all(about(json_lines(mailer.output()), rid) for rid in purchases)  # noqa: E731
    wait_for(all_mailed, timeout=15)

    batch_tasks = set()
    for request_id, purchase_id in purchases.items():
        [accepted] = about(json_lines(web.output()), request_id)
        assert accepted["purchase_id"] == purchase_id and "accepted" in accepted["message"]
        assert accepted["logger"] == "tickets.sale.accept"

        decided = about(json_lines(worker.output()), request_id)
        assert [line["message"] for line in decided] == [
            f"purchase {purchase_id}: 2 seat(s) reserved, charging",
            f"purchase {purchase_id} confirmed: payment captured",
        ]
        for line in decided:
            assert line["purchase_id"] == purchase_id and line["ticket_id"] == str(ticket.pk)
            assert line["task_name"] == BATCH_TASK
            batch_tasks.add(line["task_id"])

        [mailed] = about(json_lines(mailer.output()), request_id)
        assert mailed["message"] == f"purchase {purchase_id}: confirmation e-mail sent"
        assert mailed["purchase_id"] == purchase_id
        assert mailed["task_name"] == DELIVER_BATCH_TASK and mailed["task_id"]
    # One task decided both, each line under its own purchase's request id.
    assert len(batch_tasks) == 1

    # Celery's own lines came out as JSON too, through Django's LOGGING: Celery
    # installed no handler of its own (its format says "[time: INFO/MainProcess]").
    for process in (worker, mailer):
        assert any(line["message"].endswith(" ready.") for line in json_lines(process.output()))
        assert "/MainProcess]" not in process.output()
