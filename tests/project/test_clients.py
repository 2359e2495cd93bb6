"""Who is asking (project/clients.py): X-Forwarded-For is believed only from one
of TRUSTED_PROXIES, and a value that is not an address is ignored, never a 500."""

import pytest
from django.test import RequestFactory

from project.clients import client_address
from tests.factories import TicketFactory, purchase_request
from tickets.models import TicketPurchase

CREATE_URL = "/api/tickets/purchase/direct/"


@pytest.fixture
def behind_a_proxy(settings):
    settings.NUM_PROXIES = 1
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "192.0.2.1"]


def asking(remote: str, forwarded: str | None = None) -> str:
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return client_address(RequestFactory().get("/", REMOTE_ADDR=remote, **headers))


def test_a_trusted_proxy_reports_the_client(behind_a_proxy):
    assert asking("10.1.2.3", "198.51.100.7") == "198.51.100.7"
    assert asking("192.0.2.1", "6.6.6.6, 198.51.100.7") == "198.51.100.7"


def test_anyone_else_is_who_connected_whatever_the_header_says(behind_a_proxy):
    assert asking("203.0.113.9", "198.51.100.7") == "203.0.113.9"
    assert asking("192.0.2.2", "198.51.100.7") == "192.0.2.2"


@pytest.mark.parametrize("junk", ["not-an-ip", "1.2.3.4.5", "", " , ", "::zz", "<script>"])
def test_a_malformed_header_is_ignored(behind_a_proxy, junk):
    assert asking("10.1.2.3", junk) == "10.1.2.3"


@pytest.mark.django_db
def test_a_purchase_through_a_proxy_with_a_junk_header_is_accepted(behind_a_proxy, api_client):
    ticket = TicketFactory()
    response = api_client.post(
        CREATE_URL,
        purchase_request(ticket),
        format="json",
        REMOTE_ADDR="10.1.2.3",
        HTTP_X_FORWARDED_FOR="not-an-ip",
    )
    assert response.status_code == 202
    assert TicketPurchase.objects.get().client_address == "10.1.2.3"
