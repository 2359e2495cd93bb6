"""A request body over REQUEST_BODY_LIMIT_BYTES is 413 in the API's error shape,
before anything parses it, and creates nothing."""

import io
import json

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from gateways.models import WebhookEvent
from project.body_limit import RequestBodyLimitMiddleware
from tests.factories import TicketFactory, purchase_request
from tickets.models import IdempotencyKey, TicketPurchase

pytestmark = pytest.mark.django_db

CREATE_URL = "/api/tickets/purchase/direct/"
ONE_MIB = 1024 * 1024


purchase_body = purchase_request


def test_a_one_mib_purchase_body_is_413_and_creates_nothing(api_client, published):
    ticket = TicketFactory()
    body = json.dumps(purchase_body(ticket, padding="x" * ONE_MIB))
    response = api_client.post(
        CREATE_URL, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="big"
    )
    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request body is larger than 65536 bytes.",
        "code": "request_too_large",
    }
    assert not TicketPurchase.objects.exists() and not IdempotencyKey.objects.exists()
    assert published == []


def test_a_one_mib_webhook_is_413_and_stores_nothing(api_client):
    body = json.dumps({"id": "evt_big", "data": {"kind": "x", "id": "y"}, "pad": "x" * ONE_MIB})
    response = api_client.post(
        "/api/payments/webhooks/simulated/", body, content_type="application/json"
    )
    assert response.status_code == 413 and response.json()["code"] == "request_too_large"
    assert not WebhookEvent.objects.exists()


def test_a_body_within_the_limit_is_served_as_usual(api_client, published):
    ticket = TicketFactory()
    body = json.dumps(purchase_body(ticket, padding="x" * 60_000))
    response = api_client.post(CREATE_URL, body, content_type="application/json")
    assert response.status_code == 202
    assert TicketPurchase.objects.count() == 1


def test_the_limit_is_a_setting_and_django_forms_share_it(api_client, settings):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == settings.REQUEST_BODY_LIMIT_BYTES == 65536
    settings.REQUEST_BODY_LIMIT_BYTES = 100
    response = api_client.post(CREATE_URL, {"padding": "x" * 200}, format="json")
    assert response.status_code == 413


def test_an_unreadable_content_length_is_refused():
    request = RequestFactory().post("/api/anything/", b"{}", content_type="application/json")
    request.META["CONTENT_LENGTH"] = "lots"
    response = RequestBodyLimitMiddleware(lambda r: HttpResponse())(request)
    assert response.status_code == 400


def streamed(body: bytes):
    """A request whose body arrives without a Content-Length (chunked)."""
    request = RequestFactory().post("/api/anything/", b"", content_type="application/json")
    request.META.pop("CONTENT_LENGTH", None)
    request._stream = io.BytesIO(body)
    return request


def test_a_streamed_body_is_read_no_further_than_the_limit():
    stream = io.BytesIO(b"x" * ONE_MIB)
    request = streamed(b"")
    request._stream = stream
    response = RequestBodyLimitMiddleware(lambda r: HttpResponse())(request)
    assert response.status_code == 413
    assert stream.tell() == 65536 + 1  # one byte past the limit, not the whole megabyte


def test_a_small_streamed_body_is_handed_on_with_its_length():
    seen = {}

    def view(request):
        seen["body"], seen["length"] = request.body, request.META["CONTENT_LENGTH"]
        return HttpResponse()

    response = RequestBodyLimitMiddleware(view)(streamed(b'{"a": 1}'))
    assert response.status_code == 200
    assert seen == {"body": b'{"a": 1}', "length": "8"}
