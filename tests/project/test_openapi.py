"""The OpenAPI schema describes every endpoint, and a property-based run of
generated requests against it (schemathesis) finds no server error."""

import os

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from project.wsgi import application
from tests.factories import PurchaseFactory, TicketFactory

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
# Generated requests per operation; `make test-fast` asks for fewer.
EXAMPLES = int(os.environ.get("OPENAPI_FUZZ_EXAMPLES", "25"))


def test_schema_lists_every_ticket_endpoint_with_its_errors(client):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    create = paths["/api/tickets/purchase/direct/"]["post"]
    assert {"202", "400", "409", "422", "429"} <= set(create["responses"])
    assert "sold_out" in create["responses"]["409"]["description"]
    assert "requestBody" in create
    body = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body.endswith("/PurchaseCreate")
    for path in (
        "/api/tickets/",
        "/api/tickets/{id}/",
        "/api/tickets/purchase/{purchase_id}/status/",
        "/api/tickets/purchase/{purchase_id}/complete/",
        "/api/tickets/purchase/{purchase_id}/cancel/",
        "/api/tickets/purchase/{purchase_id}/details/",
        "/api/tickets/purchase/{purchase_id}/simulate-payment/",
        "/api/tickets/purchases/user/",
        "/api/tickets/purchases/debug/",
        "/api/auth/token/",
    ):
        assert path in paths, path


def test_the_status_schema_documents_the_waiting_room(client):
    schemas = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["components"]
    status = schemas["schemas"]["PurchaseStatus"]["properties"]
    for field in ("queue_position", "estimated_wait_seconds"):
        assert status[field]["type"] == "integer" and status[field]["nullable"] is True
        assert "null once decided" in status[field]["description"]


def test_docs_ui_is_served(client):
    assert client.get("/api/docs/").status_code == 200


@pytest.fixture
def some_data(db):
    ticket = TicketFactory(pk=1)
    PurchaseFactory(ticket=ticket)


@pytest.fixture
def wsgi_in_test_transaction():
    """Calls through the raw WSGI app would close the test's connection at the end
    of each request; Django's own test client turns that off the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_generated_requests_never_cause_a_server_error(case, some_data, wsgi_in_test_transaction):
    case.call_and_validate(
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ]
    )
