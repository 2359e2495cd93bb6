import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from payments import services
from payments.models import Booking, Payment
from tests.payments.factories import BookingFactory, DestinationFactory

pytestmark = pytest.mark.django_db

CREATE_URL = "/api/payments/bookings/"


@pytest.fixture
def destination():
    return DestinationFactory(name="Serengeti", price_per_guest="480.00")


def in_days(days: int) -> str:
    return (timezone.localdate() + timedelta(days=days)).isoformat()


def valid_body(destination, **overrides) -> dict:
    return {
        "destination_id": destination.pk,
        "customer_name": "Amani Juma",
        "customer_email": "amani@example.com",
        "travel_date": in_days(30),
        "guests": 2,
        "payment_method": "card",
        "payment_token": "tok_success",
        **overrides,
    }


# --- destinations --------------------------------------------------------------------------


def test_destinations_lists_the_active_ones(api_client, destination):
    DestinationFactory(name="Closed for the season", is_active=False)
    response = api_client.get("/api/payments/destinations/")
    assert response.status_code == 200
    [listed] = response.json()["results"]
    assert (listed["id"], listed["name"], listed["price_per_guest"]) == (
        destination.pk,
        "Serengeti",
        "480.00",
    )
    assert {"country", "region", "currency"} <= set(listed)


# --- create ----------------------------------------------------------------------------------


def test_create_answers_202_with_the_booking_and_its_status_url(api_client, destination):
    body = valid_body(destination, guests=3, total_amount="0.01", price_per_guest="0.01")
    response = api_client.post(CREATE_URL, body, format="json")
    assert response.status_code == 202, response.content
    data = response.json()
    assert (data["status"], data["payment_status"]) == ("pending", "pending")
    assert (data["total_amount"], data["currency"], data["guests"]) == ("1440.00", "USD", 3)
    assert data["destination"] == "Serengeti" and data["destination_id"] == destination.pk
    assert data["payment"]["amount"] == "1440.00" and data["payment"]["method"] == "card"
    assert "payment_token" not in data["payment"]
    assert response["Location"].endswith(f"/api/payments/bookings/{data['booking_id']}/status/")
    payment = Payment.objects.get(booking_id=data["booking_id"])
    assert (payment.status, str(payment.amount)) == ("pending", "1440.00")


def test_create_without_a_token_is_accepted_and_waits(api_client, destination):
    body = valid_body(destination, payment_method="bank_transfer")
    del body["payment_token"]
    response = api_client.post(CREATE_URL, body, format="json")
    assert response.status_code == 202
    assert Payment.objects.get().payment_token == ""


BAD_BODIES = [
    ("missing destination", {"destination_id": None}, "destination_id"),
    ("unknown destination", {"destination_id": 999999}, "destination_id"),
    ("destination as string", {"destination_id": "1"}, "destination_id"),
    ("negative destination", {"destination_id": -1}, "destination_id"),
    ("missing guests", {"guests": None}, "guests"),
    ("zero guests", {"guests": 0}, "guests"),
    ("too many guests", {"guests": 21}, "guests"),
    ("fractional guests", {"guests": 1.5}, "guests"),
    ("guests as string", {"guests": "2"}, "guests"),
    ("guests as bool", {"guests": True}, "guests"),
    ("missing travel date", {"travel_date": None}, "travel_date"),
    ("travel date today", {"travel_date": in_days(0)}, "travel_date"),
    ("travel date in the past", {"travel_date": in_days(-3)}, "travel_date"),
    ("travel date not a date", {"travel_date": "next tuesday"}, "travel_date"),
    ("travel date impossible", {"travel_date": "2030-02-30"}, "travel_date"),
    ("missing name", {"customer_name": None}, "customer_name"),
    ("blank name", {"customer_name": "   "}, "customer_name"),
    ("name too long", {"customer_name": "x" * 121}, "customer_name"),
    ("missing e-mail", {"customer_email": None}, "customer_email"),
    ("bad e-mail", {"customer_email": "not-an-email"}, "customer_email"),
    ("missing payment method", {"payment_method": None}, "payment_method"),
    ("unknown payment method", {"payment_method": "bitcoin"}, "payment_method"),
    ("token too long", {"payment_token": "t" * 201}, "payment_token"),
]


@pytest.mark.parametrize(("case", "change", "field"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_input_is_400_in_drf_shape_and_creates_nothing(
    api_client, destination, case, change, field
):
    body = {k: v for k, v in {**valid_body(destination), **change}.items() if v is not None}
    response = api_client.post(CREATE_URL, body, format="json")
    assert response.status_code == 400, case
    assert field in response.json() and isinstance(response.json()[field], list), response.json()
    assert not Booking.objects.exists() and not Payment.objects.exists()


def test_an_inactive_destination_is_a_validation_error(api_client):
    closed = DestinationFactory(is_active=False)
    response = api_client.post(CREATE_URL, valid_body(closed), format="json")
    assert response.status_code == 400 and "destination_id" in response.json()
    assert not Booking.objects.exists() and not Payment.objects.exists()


def test_malformed_json_is_400_and_creates_nothing(api_client):
    response = api_client.post(CREATE_URL, "{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "parse_error"
    assert not Booking.objects.exists() and not Payment.objects.exists()


# --- status and details ------------------------------------------------------------------------


def test_status_is_small_with_retry_after_and_etag_until_final(api_client):
    booking = BookingFactory()
    url = f"/api/payments/bookings/{booking.pk}/status/"
    response = api_client.get(url)
    assert response.status_code == 200
    assert response.json() == {
        "booking_id": str(booking.pk),
        "status": "pending",
        "payment_status": "pending",
        "failure_reason": None,
        "updated_at": response.json()["updated_at"],
    }
    assert response["Retry-After"] == "1"
    assert api_client.get(url, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304

    services.payment_process(payment_id=booking.payment.pk)
    changed = api_client.get(url, HTTP_IF_NONE_MATCH=response["ETag"])
    assert changed.status_code == 200
    assert (changed.json()["status"], changed.json()["payment_status"]) == (
        "confirmed",
        "completed",
    )
    assert "Retry-After" not in changed


def test_status_reports_why_a_booking_failed(api_client):
    booking = BookingFactory(payment__payment_token="tok_decline")
    services.payment_process(payment_id=booking.payment.pk)
    data = api_client.get(f"/api/payments/bookings/{booking.pk}/status/").json()
    assert (data["status"], data["failure_reason"]) == ("failed", "payment_declined")


def test_details_show_the_booking_and_its_payment(api_client):
    booking = BookingFactory(customer_name="Neema Mushi", guests=4)
    services.payment_process(payment_id=booking.payment.pk)
    data = api_client.get(f"/api/payments/bookings/{booking.pk}/").json()
    assert data["booking_id"] == str(booking.pk) and data["customer_name"] == "Neema Mushi"
    assert (data["status"], data["payment_status"], data["total_amount"]) == (
        "confirmed",
        "completed",
        "1000.00",
    )
    assert data["payment"]["gateway_reference"].startswith("sim_")
    assert data["payment"]["completed_at"] and data["travel_date"]


@pytest.mark.parametrize("suffix", ["", "status/"])
def test_unknown_or_malformed_booking_ids_are_404(api_client, suffix):
    missing = api_client.get(f"/api/payments/bookings/{uuid.uuid4()}/{suffix}")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert api_client.get(f"/api/payments/bookings/not-a-uuid/{suffix}").status_code == 404


def test_the_schema_describes_the_booking_endpoints(client):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    create = paths["/api/payments/bookings/"]["post"]
    assert {"202", "400"} <= set(create["responses"]) and "requestBody" in create
    for path in (
        "/api/payments/destinations/",
        "/api/payments/bookings/{booking_id}/",
        "/api/payments/bookings/{booking_id}/status/",
        "/api/payments/bookings/{booking_id}/cancel/",
    ):
        assert path in paths, path
