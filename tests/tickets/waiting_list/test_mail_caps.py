"""Nobody can flood a mailbox through the waiting list's join: join e-mails are
capped per address (past it nothing is sent, and the join answers as always)
and per client (429 with Retry-After), counted in the suite's real Redis; when
Redis cannot be reached the count fails open (tickets/waiting_list/mail_caps.py)."""

import logging

import pytest

from devtools.embedded_redis import free_port
from project.tasks import ENTRY_MAIL_TASK
from tests.factories import TicketFactory
from tickets.models import WaitingListEntry
from tickets.waiting_list.services import waiting_list_join
from workers.tasks import send_waiting_list_entry

pytestmark = pytest.mark.django_db


@pytest.fixture
def caps(settings):
    settings.WAITING_LIST_MAILS_PER_ADDRESS = 2
    settings.WAITING_LIST_MAILS_PER_CLIENT = 3
    settings.WAITING_LIST_MAIL_WINDOW_SECONDS = 3600
    return settings


def sold_out(name: str = "Sunset Dhow Cruise"):
    return TicketFactory(name=name, total_quantity=4, available_quantity=0)


def join(api_client, ticket, email: str, *, client: str):
    return api_client.post(
        f"/api/tickets/{ticket.pk}/waiting-list/",
        {"customer_name": "Eve", "customer_email": email, "quantity": 1},
        format="json",
        REMOTE_ADDR=client,
    )


def mails_sent(published, mailoutbox) -> list[str]:
    """The join e-mails the joins asked for, sent by the worker's task: to whom."""
    for entry_id in published.ids(ENTRY_MAIL_TASK):
        send_waiting_list_entry.apply(args=(entry_id,))
    return [address for message in mailoutbox for address in message.to]


def test_past_its_cap_an_address_is_sent_nothing_and_the_join_answers_the_same(
    caps, api_client, published, mailoutbox, django_capture_on_commit_callbacks
):
    first, second = sold_out(), sold_out("Guided Night Tour")

    with django_capture_on_commit_callbacks(execute=True):
        answers = [
            # From four clients, for two tickets: the cap is the address's.
            join(api_client, ticket, "ann@example.com", client=client)
            for ticket, client in [
                (first, "192.0.2.1"),
                (second, "192.0.2.2"),
                (first, "192.0.2.3"),
                (second, "192.0.2.4"),
            ]
        ]

    assert {(answer.status_code, answer.content) for answer in answers} == {
        (202, answers[0].content)
    }
    assert mails_sent(published, mailoutbox) == ["ann@example.com"] * 2
    assert WaitingListEntry.objects.filter(customer_email="ann@example.com").count() == 2
    # Another address is not held back by Ann's count.
    with django_capture_on_commit_callbacks(execute=True):
        join(api_client, first, "bo@example.com", client="192.0.2.1")
    assert mails_sent(published, mailoutbox)[-1] == "bo@example.com"


def test_past_its_cap_a_client_is_refused_with_429_and_nothing_is_made(
    caps, api_client, published, mailoutbox, django_capture_on_commit_callbacks
):
    ticket = sold_out()

    with django_capture_on_commit_callbacks(execute=True):
        answers = [
            join(api_client, ticket, f"n{n}@example.com", client="203.0.113.5") for n in range(4)
        ]
        elsewhere = join(api_client, ticket, "ok@example.com", client="203.0.113.6")

    assert [answer.status_code for answer in answers] == [202, 202, 202, 429]
    refused = answers[-1]
    assert refused.json()["code"] == "waiting_list_mails_capped" and refused.json()["detail"]
    assert 1 <= int(refused["Retry-After"]) <= 3600
    assert not WaitingListEntry.objects.filter(customer_email="n3@example.com").exists()
    assert elsewhere.status_code == 202  # the cap is this client's alone
    assert sorted(mails_sent(published, mailoutbox)) == [
        "n0@example.com",
        "n1@example.com",
        "n2@example.com",
        "ok@example.com",
    ]


def test_without_redis_the_mail_count_fails_open(
    settings, published, caplog, django_capture_on_commit_callbacks
):
    """The count is an abuse limit, not a seat: an outage of it refuses nobody."""
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens there
    settings.WAITING_LIST_MAILS_PER_CLIENT = 0
    ticket = sold_out()

    with (
        caplog.at_level(logging.WARNING, logger="tickets.waiting_list.mail_caps"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        entry = waiting_list_join(
            ticket_id=ticket.pk,
            customer_name="Ann",
            customer_email="ann@example.com",
            quantity=1,
            client_address="192.0.2.1",
        )

    assert entry.state == WaitingListEntry.State.UNCONFIRMED
    assert published.ids(ENTRY_MAIL_TASK) == [str(entry.pk)]
    assert "mail cap per client not counted" in caplog.text
    assert "mail cap per address not counted" in caplog.text
