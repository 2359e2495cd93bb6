"""Log lines (project/log_format.py, log_settings.py, log_context.py): JSON or
plain, each carrying the ids bound where it was written, and nothing else."""

import io
import json
import logging
import os
import subprocess
import sys
from contextlib import contextmanager

import pytest
from django.conf import settings

from project import log_context
from project.log_format import ContextFilter, JsonFormatter, PlainFormatter
from tests.factories import PurchaseFactory
from tickets.models import TicketPurchase


def written(formatter: logging.Formatter, log) -> str:
    """What a handler like LOGGING's writes for the records `log(logger)` makes."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger("tests.log_format")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        log(logger)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    return stream.getvalue()


def json_lines(log) -> list[dict]:
    return [json.loads(line) for line in written(JsonFormatter(), log).splitlines()]


def test_a_json_line_has_the_message_and_the_ids_bound_where_it_was_written():
    def log(logger):
        logger.info("before")
        with log_context.bind(request_id="req-1", purchase_id="p-1"):
            with log_context.bind(ticket_id=7, task_id=None):
                logger.warning("inside %s", "both")
            logger.info("outer only")
        logger.info("after")

    before, inside, outer, after = json_lines(log)

    assert inside["message"] == "inside both"
    assert (inside["level"], inside["logger"]) == ("WARNING", "tests.log_format")
    assert inside["time"].endswith("+00:00")
    assert {key: inside[key] for key in ("request_id", "purchase_id", "ticket_id")} == {
        "request_id": "req-1",
        "purchase_id": "p-1",
        "ticket_id": "7",
    }
    assert "task_id" not in inside  # None binds nothing
    assert (outer["request_id"], "ticket_id" in outer) == ("req-1", False)
    for line in (before, after):
        assert not {"request_id", "purchase_id", "ticket_id"} & set(line)


def test_an_exception_and_extra_fields_stay_in_the_one_line():
    def log(logger):
        with log_context.bind(purchase_id="bound"):
            try:
                raise ValueError("bad card")
            except ValueError:
                logger.exception("charge failed", extra={"purchase_id": "given", "attempt": 2})

    [line] = json_lines(log)
    assert "ValueError: bad card" in line["exc_info"]
    assert (line["purchase_id"], line["attempt"]) == ("given", 2)  # what the call says wins


def test_a_plain_line_names_the_ids_only_when_there_are_some():
    formatter = PlainFormatter("%(levelname)s %(name)s %(message)s")

    def log(logger):
        logger.info("alone")
        with log_context.bind(request_id="req-1", purchase_id="p-1", task_name="workers.x"):
            logger.info("bound")

    alone, bound = written(formatter, log).splitlines()
    assert alone == "INFO tests.log_format alone"
    assert bound == "INFO tests.log_format bound [req=req-1 purchase=p-1]"


@contextmanager
def serving(request_id: str):
    """As RequestIdMiddleware serves a request."""
    tokens = log_context.request_begin(request_id)
    try:
        yield
    finally:
        log_context.request_end(tokens)


@pytest.mark.django_db
def test_a_purchase_binds_the_request_id_that_created_it_outside_a_request():
    first = PurchaseFactory(request_id="first-request")
    second = PurchaseFactory(request_id="second-request")

    with log_context.bind_purchase(first):
        assert log_context.current() == {
            "purchase_id": str(first.pk),
            "request_id": "first-request",
        }
        with log_context.bind_purchase(second):  # a batch: each its own
            assert log_context.current()["request_id"] == "second-request"
        assert log_context.current()["request_id"] == "first-request"
    assert log_context.current() == {}


@pytest.mark.django_db
def test_inside_a_request_a_purchase_leaves_the_requests_own_id():
    purchase = PurchaseFactory(request_id="first-request")
    with serving("admin-request"), log_context.bind_purchase(purchase):
        assert log_context.current() == {
            "request_id": "admin-request",
            "purchase_id": str(purchase.pk),
        }
        assert log_context.request_id() == "admin-request"


@pytest.mark.django_db
def test_a_deferred_request_id_is_never_fetched_for_a_log_line(django_assert_num_queries):
    purchase = PurchaseFactory(request_id="first-request")
    deferred = TicketPurchase.objects.only("id").get()
    with django_assert_num_queries(0), log_context.bind_purchase(deferred):
        assert log_context.current() == {"purchase_id": str(purchase.pk)}


def run_logging(log_format: str | None) -> subprocess.CompletedProcess:
    """A process that sets Django up (as web, worker and beat do) and logs a
    line; LOG_FORMAT as given, unset for None."""
    code = (
        "import django, logging; django.setup();"
        "from project import log_context;"
        "log_context.push(request_id='r-9');"
        "logging.getLogger('probe').warning('hello')"
    )
    env = {key: value for key, value in os.environ.items() if key != "LOG_FORMAT"}
    if log_format is not None:
        env["LOG_FORMAT"] = log_format
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "project.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_log_format_json_makes_every_line_json():
    [line] = [json.loads(text) for text in run_logging("json").stderr.splitlines()]
    assert (line["message"], line["logger"], line["request_id"]) == ("hello", "probe", "r-9")


def test_plain_is_the_default():
    default = run_logging(None)
    assert default.stderr.rstrip().endswith(" WARNING probe hello [req=r-9]")


def test_an_unknown_log_format_is_refused_at_start():
    refused = run_logging("xml")
    assert refused.returncode != 0
    assert "LOG_FORMAT: 'xml' is none of plain, json" in refused.stderr
