"""Hostile clients (issue 11): a forged X-Forwarded-For does not escape the
throttle, one client cannot hold more unpaid seats than its cap,
unpaid holds never take a whole ticket, and every write endpoint is throttled."""

import pytest
from rest_framework.throttling import ScopedRateThrottle

from tests.factories import PurchaseFactory, TicketFactory
from tickets.models import TicketPurchase
from tickets.sale.payment import purchase_process
from tickets.sale.purchases import (
    purchase_cancel,
    purchase_create,
    purchase_reserve,
    purchase_submit_payment,
)

pytestmark = pytest.mark.django_db

URL = "/api/tickets/purchase/direct/"


def body(ticket, email="ann@example.com", quantity=1, **extra):
    return {
        "ticket_id": ticket.pk,
        "quantity": quantity,
        "customer_name": "Ann",
        "customer_email": email,
        "payment_method": "card",
        **extra,
    }


@pytest.fixture
def rate(monkeypatch):
    def set_rate(scope: str, value: str) -> None:
        rates = {**ScopedRateThrottle.THROTTLE_RATES, scope: value}
        monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", rates)

    return set_rate


# --- client identity -------------------------------------------------------------------


def test_a_new_forwarded_for_per_request_is_still_throttled_without_proxies(
    api_client, rate, settings
):
    settings.NUM_PROXIES = 0
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 0}
    rate("purchase_create", "2/minute")
    ticket = TicketFactory()
    codes = [
        api_client.post(
            URL, body(ticket, f"a{n}@example.com"), format="json", HTTP_X_FORWARDED_FOR=f"1.2.3.{n}"
        ).status_code
        for n in range(3)
    ]
    assert codes == [202, 202, 429]


def test_behind_one_trusted_proxy_the_client_is_the_address_it_reports(api_client, rate, settings):
    settings.NUM_PROXIES = 1
    settings.TRUSTED_PROXIES = ["10.0.0.2"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    rate("purchase_create", "1/minute")
    ticket = TicketFactory()
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    # The client forged the left part; the proxy appended the address it saw.
    first = api_client.post(
        URL, body(ticket), format="json", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7", **proxy
    )
    again = api_client.post(
        URL, body(ticket), format="json", HTTP_X_FORWARDED_FOR="7.7.7.7, 203.0.113.7", **proxy
    )
    other = api_client.post(
        URL, body(ticket), format="json", HTTP_X_FORWARDED_FOR="203.0.113.8", **proxy
    )
    assert (first.status_code, again.status_code, other.status_code) == (202, 429, 202)
    purchase = TicketPurchase.objects.get(pk=first.json()["purchase_id"])
    assert purchase.client_address == "203.0.113.7"


# --- caps on unpaid holds (caps on every seat in flight: tests/tickets/sale/test_caps.py) ---


def test_one_client_cannot_hold_more_unpaid_seats_than_its_cap(api_client, settings):
    settings.HOLD_CAP_PER_CLIENT = 4
    ticket = TicketFactory(total_quantity=100)
    me = {"REMOTE_ADDR": "198.51.100.1"}
    first = api_client.post(URL, body(ticket, "a@example.com", 2), format="json", **me)
    second = api_client.post(URL, body(ticket, "b@example.com", 2), format="json", **me)
    third = api_client.post(URL, body(ticket, "c@example.com", 1), format="json", **me)
    assert (first.status_code, second.status_code, third.status_code) == (202, 202, 429)
    assert third.json()["code"] == "hold_limit_reached"
    assert TicketPurchase.objects.count() == 2
    other = {"REMOTE_ADDR": "198.51.100.2"}
    assert (
        api_client.post(URL, body(ticket, "d@example.com", 2), format="json", **other).status_code
        == 202
    )


def test_unpaid_holds_never_take_the_whole_ticket(settings):
    settings.UNPAID_HOLDS_MAX_PERCENT = 50
    ticket = TicketFactory(total_quantity=10)
    holds = [PurchaseFactory(ticket=ticket, quantity=2, payment_token="") for _ in range(4)]
    outcomes = [purchase_reserve(purchase_id=p.pk) for p in holds]
    assert [(p.status, p.failure_reason) for p in outcomes] == [
        ("pending", None),
        ("pending", None),
        ("failed", "unpaid_holds_full"),
        ("failed", "unpaid_holds_full"),
    ]
    ticket.refresh_from_db()
    assert (ticket.available_quantity, ticket.unpaid_held_quantity) == (6, 4)
    # Buyers who pay still get the rest.
    paying = PurchaseFactory(ticket=ticket, quantity=6, payment_token="tok_success")
    assert purchase_process(purchase_id=paying.pk).status == "confirmed"
    # A hold that is paid for stops counting; one that expires gives its seats back.
    purchase_submit_payment(purchase_id=holds[0].pk, payment_token="tok_success")
    purchase_process(purchase_id=holds[0].pk)
    purchase_cancel(purchase_id=holds[1].pk)
    ticket.refresh_from_db()
    assert (ticket.available_quantity, ticket.unpaid_held_quantity) == (2, 0)


def test_a_purchase_without_token_holds_its_seats_only_briefly(settings):
    settings.UNPAID_HOLD_SECONDS = 120
    unpaid = purchase_create(
        ticket_id=TicketFactory().pk,
        quantity=1,
        customer_name="Ann",
        customer_email="ann@example.com",
        payment_method="card",
    )
    assert (unpaid.hold_expires_at - unpaid.created_at).total_seconds() == pytest.approx(120, abs=2)


# --- every write endpoint is throttled -----------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "path"),
    [
        ("purchase_complete", "/api/tickets/purchase/{id}/complete/"),
        ("purchase_simulate", "/api/tickets/purchase/{id}/simulate-payment/"),
        ("purchase_cancel", "/api/tickets/purchase/{id}/cancel/"),
    ],
)
def test_the_holders_write_endpoints_are_throttled(api_client, rate, scope, path):
    rate(scope, "2/minute")
    purchase = PurchaseFactory(payment_token="")
    url = path.format(id=purchase.pk)
    codes = [api_client.post(url, {}, format="json").status_code for _ in range(3)]
    assert codes[-1] == 429 and 429 not in codes[:2]


def test_booking_creation_is_throttled(api_client, rate):
    rate("booking_create", "1/minute")
    codes = [
        api_client.post("/api/payments/bookings/", {}, format="json").status_code for _ in range(2)
    ]
    assert codes == [400, 429]
