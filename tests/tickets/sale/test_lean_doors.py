"""The two hot doors as plain Django views (issue 24, item 1; project/lean_door.py):
an anonymous JSON create or poll skips DRF's machinery, every other request
goes through the DRF view, and both answer alike: the same status, body and
headers (DRF's `Allow` included). `?format=json` sends a request through DRF
with nothing else changed, so each answer is compared with DRF's own."""

import pytest
from rest_framework.views import APIView

from project.throttling import ClientRateThrottle
from tests.factories import TicketFactory, purchase_request

pytestmark = pytest.mark.django_db

CREATE_URL = "/api/tickets/purchase/direct/"
COMPARED_HEADERS = ("Content-Type", "Allow", "Vary", "Retry-After", "ETag", "Cache-Control")


@pytest.fixture
def drf_entries(monkeypatch):
    """How many requests went through DRF's APIView."""
    seen = []
    original = APIView.initial

    def initial(view, request, *args, **kwargs):
        seen.append(request.path)
        return original(view, request, *args, **kwargs)

    monkeypatch.setattr(APIView, "initial", initial)
    return seen


def headers(response) -> dict:
    return {name: response.get(name) for name in COMPARED_HEADERS}


def without_ids(body: dict) -> dict:
    varying = ("purchase_id", "created_at", "updated_at", "hold_expires_at")
    return {key: value for key, value in body.items() if key not in varying}


def test_a_plain_create_and_poll_skip_drf_and_answer_as_drf_does(
    api_client, published, drf_entries
):
    ticket = TicketFactory(total_quantity=10)
    data = purchase_request(ticket, quantity=2)
    lean = api_client.post(CREATE_URL, data, format="json")
    drf = api_client.post(f"{CREATE_URL}?format=json", data, format="json")
    assert drf_entries == [CREATE_URL]  # only the second went through DRF
    assert (lean.status_code, drf.status_code) == (202, 202)
    assert headers(lean) == headers(drf)
    assert without_ids(lean.json()) == without_ids(drf.json())

    polled = api_client.get(lean["Location"])
    via_drf = api_client.get(f"{lean['Location']}?format=json")
    assert len(drf_entries) == 2
    assert polled.status_code == via_drf.status_code == 200
    assert polled.json() == via_drf.json() and headers(polled) == headers(via_drf)
    unchanged = api_client.get(lean["Location"], HTTP_IF_NONE_MATCH=polled["ETag"])
    assert unchanged.status_code == 304 and headers(unchanged)["Allow"] == polled["Allow"]


@pytest.mark.parametrize(
    ("case", "overrides"),
    [
        ("invalid", {"quantity": 0}),
        ("unknown ticket", {"ticket_id": 999999}),
        ("too many", {"quantity": 11}),
    ],
)
def test_a_refused_create_is_answered_as_drf_answers_it(api_client, published, case, overrides):
    ticket = TicketFactory(total_quantity=10, available_quantity=1)
    data = purchase_request(ticket, **{"quantity": 2, **overrides})
    lean = api_client.post(CREATE_URL, data, format="json")
    drf = api_client.post(f"{CREATE_URL}?format=json", data, format="json")
    assert lean.status_code == drf.status_code and lean.status_code in (400, 409), case
    assert lean.json() == drf.json() and headers(lean) == headers(drf)


def test_a_throttled_create_is_answered_as_drf_answers_it(api_client, published, monkeypatch):
    rates = {**ClientRateThrottle.THROTTLE_RATES, "purchase_create": "1/minute"}
    monkeypatch.setattr(ClientRateThrottle, "THROTTLE_RATES", rates)
    data = purchase_request(TicketFactory())
    api_client.post(CREATE_URL, data, format="json")
    lean = api_client.post(CREATE_URL, data, format="json")
    drf = api_client.post(f"{CREATE_URL}?format=json", data, format="json")
    assert lean.status_code == drf.status_code == 429
    assert lean.json() == drf.json()
    assert headers(lean)["Allow"] == headers(drf)["Allow"] and lean["Retry-After"]


def test_what_the_fast_path_cannot_read_goes_to_drf(api_client, drf_entries):
    broken = api_client.post(CREATE_URL, "{not json", content_type="application/json")
    assert broken.status_code == 400 and broken.json()["code"] == "parse_error"
    form = api_client.post(CREATE_URL, {"quantity": 1})  # multipart
    assert form.status_code == 415
    token = api_client.post(
        CREATE_URL, {}, format="json", HTTP_AUTHORIZATION="Token not-a-real-one"
    )
    assert token.status_code == 401
    assert drf_entries == [CREATE_URL] * 3


def test_an_unknown_purchase_is_drfs_404(api_client):
    response = api_client.get("/api/tickets/purchase/00000000-0000-4000-8000-000000000000/status/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert response["Allow"] == "GET, HEAD, OPTIONS"
