"""An Idempotency-Key belongs to one client (the user, else the client address),
lives IDEMPOTENCY_KEY_TTL_HOURS, and is purged by beat after that."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import TicketFactory, UserFactory, purchase_request
from tickets.models import IdempotencyKey, TicketPurchase
from tickets.sale import idempotency
from tickets.sale.idempotency import idempotency_keys_purge, idempotency_scope
from workers.tasks import purge_idempotency_keys

pytestmark = pytest.mark.django_db

CREATE_URL = "/api/tickets/purchase/direct/"


@pytest.fixture
def ticket():
    return TicketFactory(total_quantity=50)


body = purchase_request


def create(api_client, data: dict, key: str, **meta):
    return api_client.post(CREATE_URL, data, format="json", HTTP_IDEMPOTENCY_KEY=key, **meta)


def test_the_same_key_from_two_anonymous_clients_creates_two_purchases(
    api_client, ticket, published
):
    first = create(api_client, body(ticket), "order-1", REMOTE_ADDR="198.51.100.1")
    second = create(api_client, body(ticket), "order-1", REMOTE_ADDR="198.51.100.2")
    assert first.status_code == second.status_code == 202
    assert first.json()["purchase_id"] != second.json()["purchase_id"]
    assert TicketPurchase.objects.count() == 2
    # Each client still gets its own purchase back on a retry.
    again = create(api_client, body(ticket), "order-1", REMOTE_ADDR="198.51.100.2")
    assert again.json()["purchase_id"] == second.json()["purchase_id"]
    assert TicketPurchase.objects.count() == 2


def test_another_client_cannot_read_a_purchase_by_replaying_a_key(api_client, ticket, published):
    victim = create(api_client, body(ticket), "guessable", REMOTE_ADDR="198.51.100.1")
    attacker = create(api_client, body(ticket), "guessable", REMOTE_ADDR="203.0.113.9")
    assert attacker.json()["purchase_id"] != victim.json()["purchase_id"]


def test_behind_a_trusted_proxy_the_forwarded_client_owns_the_key(
    api_client, ticket, settings, published
):
    settings.NUM_PROXIES = 1
    settings.TRUSTED_PROXIES = ["10.0.0.2"]
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    first = create(api_client, body(ticket), "k", HTTP_X_FORWARDED_FOR="198.51.100.1", **proxy)
    second = create(api_client, body(ticket), "k", HTTP_X_FORWARDED_FOR="198.51.100.2", **proxy)
    assert first.json()["purchase_id"] != second.json()["purchase_id"]
    scopes = set(IdempotencyKey.objects.values_list("scope", flat=True))
    assert scopes == {"purchase_create:ip:198.51.100.1", "purchase_create:ip:198.51.100.2"}


def test_an_authenticated_user_owns_the_key_from_any_address(api_client, ticket, published):
    api_client.force_authenticate(UserFactory())
    first = create(api_client, body(ticket), "k", REMOTE_ADDR="198.51.100.1")
    again = create(api_client, body(ticket), "k", REMOTE_ADDR="198.51.100.2")
    assert again.json()["purchase_id"] == first.json()["purchase_id"]
    api_client.force_authenticate(UserFactory())
    other_user = create(api_client, body(ticket), "k", REMOTE_ADDR="198.51.100.1")
    assert other_user.json()["purchase_id"] != first.json()["purchase_id"]
    assert TicketPurchase.objects.count() == 2


def test_a_scope_always_fits_its_column():
    long_ipv6 = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%a-very-long-zone-name"
    scope = idempotency_scope(user=None, client_address=long_ipv6)
    field = IdempotencyKey._meta.get_field("scope")
    assert len(scope) <= field.max_length == idempotency.SCOPE_MAX_LENGTH
    assert scope != idempotency_scope(user=None, client_address=long_ipv6 + "2")


# --- expiry and purge -----------------------------------------------------------------------


def age(hours: float) -> None:
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=hours))


def test_an_expired_key_is_new_again(api_client, ticket, settings, published):
    assert settings.IDEMPOTENCY_KEY_TTL_HOURS == 24
    first = create(api_client, body(ticket), "k")
    age(hours=25)
    # A different body would be 422 within the TTL; after it, the key is simply new.
    fresh = create(api_client, body(ticket, quantity=2), "k")
    assert fresh.status_code == 202
    assert fresh.json()["purchase_id"] != first.json()["purchase_id"]
    assert IdempotencyKey.objects.count() == 1


def test_within_its_ttl_a_key_still_replays(api_client, ticket, published):
    first = create(api_client, body(ticket), "k")
    age(hours=23)
    again = create(api_client, body(ticket), "k")
    assert again.json()["purchase_id"] == first.json()["purchase_id"]


def keys(count: int, *, hours_old: float) -> None:
    IdempotencyKey.objects.bulk_create(
        IdempotencyKey(
            scope="purchase_create:ip:x", key=f"{hours_old}-{n}", request_fingerprint="f"
        )
        for n in range(count)
    )
    IdempotencyKey.objects.filter(key__startswith=f"{hours_old}-").update(
        created_at=timezone.now() - timedelta(hours=hours_old)
    )


def test_the_purge_deletes_expired_keys_in_bounded_batches(monkeypatch, settings):
    settings.IDEMPOTENCY_KEY_TTL_HOURS = 2
    monkeypatch.setattr(idempotency, "PURGE_BATCH_SIZE", 3)
    keys(7, hours_old=3)
    keys(2, hours_old=1)
    assert idempotency_keys_purge() == 7
    assert IdempotencyKey.objects.count() == 2
    assert idempotency_keys_purge() == 0


def test_the_purge_task_calls_the_service():
    keys(2, hours_old=48)
    assert purge_idempotency_keys() == 2  # the task body, run in this process
    assert not IdempotencyKey.objects.exists()
