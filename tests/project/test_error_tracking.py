"""Sentry, pointed at a local sink (tests/sentry_sink.py) that keeps exactly what
arrives: errors from a request and from a real worker arrive, the beat's sweeps
check in as cron monitors, and no buyer's e-mail, name or token is in any of it.
Without SENTRY_DSN nothing is started."""

import json
import logging
import os
import subprocess
import sys
from datetime import timedelta

import pytest
import sentry_sdk
from aiosmtpd.controller import Controller
from django.test import RequestFactory
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from rest_framework.authtoken.models import Token

from devtools.embedded_redis import free_port
from project.error_tracking import init_sentry
from project.wsgi import application
from tests.factories import PurchaseFactory, UserFactory
from tests.project.sentry_urls import PROBE_PATH
from tests.sentry_sink import SentrySink
from tests.worker_process import ROOT
from tickets.codes import codes_issue_many
from tickets.delivery import mailer as delivery
from tickets.models import TicketPurchase
from workers.schedule import schedule_install

BUYER = {
    "customer_name": "Annabel Quist",
    "customer_email": "annabel.quist@example.com",
    "payment_token": "tok_visa_4242",
    "payment_client_secret": "pi_3ProbeIntent_secret_Zq9Lk2",
}


@pytest.fixture
def sentry_sink():
    sink = SentrySink().start()
    yield sink
    sink.stop()


@pytest.fixture
def sentry_in_process(sentry_sink):
    """Sentry started in this process by the project's own init, pointed at the
    sink; switched off again afterwards, so no other test reports anywhere."""
    assert init_sentry(dsn=sentry_sink.dsn, environment="test")
    yield sentry_sink
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)
    assert not sentry_sdk.get_client().is_active()


def events_of(sink: SentrySink, exception_type: str) -> list[dict]:
    return [
        event
        for event in sink.items("event")
        if any(
            value.get("type") == exception_type
            for value in (event.get("exception") or {}).get("values", [])
        )
    ]


def frame_vars(event: dict, function: str) -> dict:
    for value in event["exception"]["values"]:
        for frame in value["stacktrace"]["frames"]:
            if frame["function"] == function:
                return frame["vars"]
    raise AssertionError(f"no frame of {function} in the event")


def wsgi_post(path: str, body: dict, **headers) -> str:
    """A request through the WSGI application gunicorn serves (Sentry's Django
    integration wraps it there: the request's URL, query and headers), in this
    process; its status line."""
    request = RequestFactory().post(
        path, data=json.dumps(body), content_type="application/json", **headers
    )
    statuses = []
    response = application(request.environ, lambda status, *_: statuses.append(status))
    response.close()
    return statuses[0]


@pytest.mark.urls("tests.project.sentry_urls")
@pytest.mark.django_db(transaction=True)  # the request ends by closing the connection
def test_an_unhandled_error_in_a_request_arrives_without_the_buyers_details(sentry_in_process):
    sink = sentry_in_process
    api_token = Token.objects.create(user=UserFactory())

    status = wsgi_post(
        f"{PROBE_PATH}?email=annabel.quist%40example.com&customer_name=Annabel+Quist",
        BUYER,
        HTTP_AUTHORIZATION=f"Token {api_token.key}",
        HTTP_COOKIE="sessionid=probe-session-cookie-value",
        HTTP_X_REQUEST_ID="probe-request-1",
    )
    assert status.startswith("500")
    sentry_sdk.flush(timeout=10)

    [event, *_] = sink.wait_for(lambda sink: events_of(sink, "ProbeError"), timeout=10)
    raw = sink.raw()
    # What makes the event worth having arrived: the bug, where, which request.
    assert PROBE_PATH in event["request"]["url"]
    assert "probe-request-1" in raw  # X-Request-ID stays: it finds the request's logs
    assert "gateway choked" in raw
    # The view's variables were sent, the personal ones filtered.
    variables = frame_vars(event, "failing_charge")
    assert variables["customer_name"] == "[Filtered]"
    assert "charging" in variables["note"]
    # Nothing of the buyer or their credentials, anywhere in what was sent.
    for secret in [
        *BUYER.values(),
        "annabel.quist%40example.com",
        "Annabel+Quist",
        "Annabel",
        api_token.key,
        "probe-session-cookie-value",
    ]:
        assert secret not in raw, secret


def test_a_logged_error_naming_a_buyer_arrives_without_the_name(sentry_in_process):
    sink = sentry_in_process
    # The name is in the record's arguments; only the message labels it.
    logging.getLogger("tickets.probe").error(
        "purchase %s: customer_name=%s, declined: %s", "pur-123", BUYER["customer_name"], "no"
    )
    sentry_sdk.flush(timeout=10)

    def logged(sink: SentrySink) -> list[dict]:
        return [e for e in sink.items("event") if "pur-123" in json.dumps(e.get("logentry"))]

    [event] = sink.wait_for(logged, timeout=10)
    assert event["logger"] == "tickets.probe"
    assert BUYER["customer_name"] not in sink.raw()


class RefusingMailServer:
    """An SMTP server that refuses every recipient, naming the address, as a
    mail server does for a mistyped one."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"


@pytest.mark.django_db(transaction=True)
def test_an_error_a_real_worker_logs_arrives_without_the_buyers_address(start_worker, sentry_sink):
    smtp = Controller(RefusingMailServer(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        start_worker(
            "sentry",
            concurrency=1,
            extra_env={
                "SENTRY_DSN": sentry_sink.dsn,
                "SENTRY_ENVIRONMENT": "test",
                "EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}",
            },
        )
        purchase = PurchaseFactory(
            customer_name=BUYER["customer_name"],
            customer_email=BUYER["customer_email"],
            status=TicketPurchase.Status.CONFIRMED,
            payment_status=TicketPurchase.PaymentStatus.COMPLETED,
            inventory_reserved=True,
        )
        codes_issue_many([purchase])
        delivery.delivery_ring()  # the mailer's batch meets the refusal and logs it

        def refusal_logged(sink: SentrySink) -> list[dict]:
            return [
                event
                for event in sink.items("event")
                if "confirmation refused" in json.dumps(event.get("logentry"))
            ]

        [event, *_] = sentry_sink.wait_for(refusal_logged, timeout=60)
    finally:
        smtp.stop()

    raw = sentry_sink.raw()
    assert event["level"] == "error"
    assert event["environment"] == "test"
    assert str(purchase.pk) in raw  # the id the log names, to find the purchase by
    assert "Recipient address rejected" in raw  # the server's reason, minus the address
    assert BUYER["customer_email"] not in raw
    assert "annabel.quist%40example.com" not in raw


@pytest.mark.django_db(transaction=True)
def test_the_beats_sweeps_check_in_as_sentry_cron_monitors(
    start_worker, start_beat, sentry_sink, settings
):
    settings.SWEEP_INTERVAL_SECONDS = 60  # Sentry takes whole minutes only
    schedule_install()  # transactional tests start from empty tables
    # One sweep overdue, so the beat sends it at once (the rest wait their minute).
    PeriodicTask.objects.filter(name="expire-unpaid-purchases").update(
        last_run_at=timezone.now() - timedelta(minutes=10)
    )
    sentry_env = {"SENTRY_DSN": sentry_sink.dsn, "SENTRY_ENVIRONMENT": "test"}
    start_worker("crons", concurrency=1, extra_env=sentry_env)
    start_beat(extra_env=sentry_env)

    def check_ins(sink: SentrySink) -> list[dict]:
        slug = "expire-unpaid-purchases"
        found = [c for c in sink.items("check_in") if c["monitor_slug"] == slug]
        return found if {c["status"] for c in found} >= {"in_progress", "ok"} else []

    found = sentry_sink.wait_for(check_ins, timeout=60)
    started = next(c for c in found if c["status"] == "in_progress")  # by the beat
    ended = next(c for c in found if c["status"] == "ok")  # by the worker that ran it
    assert ended["check_in_id"] == started["check_in_id"]
    assert started["monitor_config"]["schedule"] == {
        "type": "interval",
        "value": 1,
        "unit": "minute",
    }
    assert ended["environment"] == "test"


@pytest.mark.parametrize("dsn", ["", "http://key@127.0.0.1:9/1"])
def test_sentry_starts_with_the_settings_only_when_a_dsn_is_set(dsn):
    """A fresh process, as every product process loads the settings and the Celery app."""
    code = (
        "import json, sys, django; django.setup(); import workers.celery; "
        "imported = 'sentry_sdk' in sys.modules; import sentry_sdk; "
        "client = sentry_sdk.get_client(); "
        "print(json.dumps({'imported': imported, 'active': client.is_active(), "
        "'integrations': sorted(client.integrations), "
        "'pii': client.should_send_default_pii()}))"
    )
    env = {**os.environ, "SENTRY_DSN": dsn}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    started = json.loads(done.stdout.strip().splitlines()[-1])
    if not dsn:
        assert started == {"imported": False, "active": False, "integrations": [], "pii": False}
    else:
        assert started["imported"] and started["active"]
        assert {"celery", "django", "logging"} <= set(started["integrations"])
        assert started["pii"] is False
