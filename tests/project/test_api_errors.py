"""project/api_errors.py is the one place an exception becomes a status: domain
errors, missing objects and outages of the gateway, the database or the broker."""

import json
import logging

import kombu.exceptions
import pytest
import redis.exceptions
from django.db import InterfaceError, OperationalError
from django.http import Http404

from gateways import TransientGatewayError
from payments.errors import DestinationUnavailable, GuestsInvalid
from project.api_errors import RETRY_AFTER_SECONDS, exception_handler
from project.errors import DependencyUnavailable, DomainError
from project.outages import OutageMiddleware
from tests.factories import PurchaseFactory
from tickets import selectors
from tickets.errors import PurchaseNotPending, QuantityInvalid, TicketUnavailable
from tickets.models import TicketPurchase
from tickets.sale import purchases


def handle(exc):
    return exception_handler(exc, {"view": None, "args": (), "kwargs": {}, "request": None})


class FieldInvalid(DomainError):
    code = "field_invalid"
    http_status = 400
    field = "colour"


class FieldConflict(DomainError):
    code = "field_conflict"
    field = "colour"  # a 409 keeps the error shape, whatever it names


# --- domain errors ---------------------------------------------------------------------------


def test_a_domain_error_answers_its_status_and_code():
    response = handle(PurchaseNotPending())
    assert response.status_code == 409
    assert response.data == {
        "detail": PurchaseNotPending.default_detail,
        "code": "purchase_not_pending",
    }


def test_a_400_domain_error_naming_a_field_answers_in_the_validation_shape():
    response = handle(FieldInvalid("Not a colour."))
    assert response.status_code == 400
    assert response.data == {"colour": ["Not a colour."]}


def test_a_field_on_an_error_other_than_400_keeps_the_error_shape():
    response = handle(FieldConflict("Taken."))
    assert response.status_code == 409
    assert response.data == {"detail": "Taken.", "code": "field_conflict"}


@pytest.mark.parametrize(
    ("exc", "field"),
    [
        (TicketUnavailable(), "ticket_id"),
        (QuantityInvalid("Between 1 and 10 tickets."), "quantity"),
        (DestinationUnavailable(), "destination_id"),
        (GuestsInvalid(), "guests"),
    ],
    ids=lambda value: value if isinstance(value, str) else type(value).__name__,
)
def test_the_products_input_errors_name_their_field(exc, field):
    response = handle(exc)
    assert response.status_code == 400
    assert response.data == {field: [exc.detail]}


# --- missing objects -------------------------------------------------------------------------


@pytest.mark.parametrize("exc", [TicketPurchase.DoesNotExist(), Http404()], ids=type)
def test_a_missing_object_is_404(exc):
    response = handle(exc)
    assert response.status_code == 404
    assert response.data == {"detail": "Not found.", "code": "not_found"}


@pytest.mark.django_db
def test_a_service_that_finds_no_object_is_404_through_the_api(api_client, monkeypatch):
    def missing(**kwargs):
        raise TicketPurchase.DoesNotExist

    monkeypatch.setattr(purchases, "purchase_cancel", missing)
    response = api_client.post(f"/api/tickets/purchase/{PurchaseFactory().pk}/cancel/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


# --- outages ---------------------------------------------------------------------------------


def test_a_dependency_outage_is_503_with_retry_after():
    response = handle(DependencyUnavailable())
    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response.data == {
        "detail": DependencyUnavailable.default_detail,
        "code": "service_unavailable",
    }


def test_a_gateway_outage_is_503_without_the_gateways_own_words(caplog):
    with caplog.at_level(logging.WARNING, logger="project.api_errors"):
        response = handle(TransientGatewayError("processor said: upstream 502 on node 7"))
    assert response.status_code == 503 and response["Retry-After"]
    assert response.data == {
        "detail": TransientGatewayError.default_detail,
        "code": "gateway_unavailable",
    }
    assert "upstream 502 on node 7" in caplog.text


OUTAGES = [
    OperationalError("could not connect to server"),
    InterfaceError("connection already closed"),
    kombu.exceptions.OperationalError("Error 111 connecting to redis:6379"),
    redis.exceptions.ConnectionError("Connection refused"),
    redis.exceptions.TimeoutError("Timeout reading from socket"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("outage", OUTAGES, ids=lambda exc: type(exc).__module__)
def test_a_database_or_broker_outage_is_503_and_logged(api_client, monkeypatch, caplog, outage):
    def unreachable(**kwargs):
        raise outage

    monkeypatch.setattr(selectors, "purchase_status", unreachable)
    with caplog.at_level(logging.ERROR, logger="project.api_errors"):
        response = api_client.get(f"/api/tickets/purchase/{PurchaseFactory().pk}/status/")
    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response.json() == {
        "detail": "The service is temporarily unavailable. Try again later.",
        "code": "service_unavailable",
    }
    [record] = [r for r in caplog.records if r.name == "project.api_errors"]
    assert record.levelno == logging.ERROR and record.exc_info[1] is outage
    assert "/status/" in record.getMessage()


@pytest.mark.django_db
def test_a_broker_outage_on_a_write_is_503(api_client, monkeypatch):
    def broker_down(**kwargs):
        raise kombu.exceptions.OperationalError("Error 111 connecting to redis:6379")

    monkeypatch.setattr(purchases, "purchase_cancel", broker_down)
    response = api_client.post(f"/api/tickets/purchase/{PurchaseFactory().pk}/cancel/")
    assert response.status_code == 503 and response.json()["code"] == "service_unavailable"


def test_other_errors_are_left_to_django():
    assert handle(ValueError("a bug")) is None


def test_an_outage_outside_drf_is_a_503_in_the_api_error_shape(rf):
    middleware = OutageMiddleware(lambda request: None)
    request = rf.get("/admin/")
    response = middleware.process_exception(request, OperationalError("server closed"))
    assert response.status_code == 503 and response["Retry-After"]
    assert json.loads(response.content)["code"] == "service_unavailable"
    assert middleware.process_exception(request, ValueError("a bug")) is None


def test_each_product_keeps_its_own_words_under_one_base_error():
    from payments import errors as booking_errors
    from project import errors
    from tickets import errors as ticket_errors

    for base in (errors.IllegalTransition, errors.RefundRefused):
        mine, theirs = (
            getattr(module, base.__name__) for module in (ticket_errors, booking_errors)
        )
        assert issubclass(mine, base) and issubclass(theirs, base)
        assert mine.code == theirs.code == base.code
        assert "purchase" in mine.default_detail and "payment" in theirs.default_detail


@pytest.mark.parametrize(
    "url",
    [
        "/api/tickets/purchase/not-a-uuid/status/",
        "/api/tickets/abc/",
        "/api/payments/bookings/123/",
        "/api/no-such-endpoint/",
    ],
)
def test_an_api_address_that_matches_no_route_is_a_json_404(api_client, url):
    response = api_client.post(url) if "bookings" in url else api_client.get(url)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


@pytest.mark.django_db
def test_a_page_past_the_end_of_a_list_is_a_json_404(api_client):
    response = api_client.get("/api/tickets/", {"page": 99})
    assert response.status_code == 404 and response.json()["code"] == "not_found"
