"""A waiting-list entry belongs to whoever reads its e-mail address (issue 21,
item 6): a join answers the caller nothing about the entry, the link goes to the
mailbox, and the entry takes a place in line only once that link confirms it.

Through the public API only, with the entry e-mails sent by the real task (run
in this process) to Django's test outbox: what the caller sees, and what the
mailbox gets."""

import re
from urllib.parse import urlsplit

import pytest

from project.tasks import ENTRY_MAIL_TASK
from tests.factories import TicketFactory
from tickets.models import WaitingListEntry
from workers.tasks import send_waiting_list_entry

pytestmark = pytest.mark.django_db

LINK = re.compile(r"https?://\S+/waiting-list/([0-9a-f-]{36})/")


def join(api_client, ticket, email: str, *, name: str, client: str):
    return api_client.post(
        f"/api/tickets/{ticket.pk}/waiting-list/",
        {"customer_name": name, "customer_email": email, "quantity": 2},
        format="json",
        REMOTE_ADDR=client,
    )


def deliver(published) -> None:
    """The entry e-mails the joins asked for, sent by the worker's task."""
    for entry_id in published.ids(ENTRY_MAIL_TASK):
        send_waiting_list_entry.apply(args=(entry_id,))


def test_a_join_with_someone_elses_address_gives_the_caller_nothing_to_act_on(
    api_client, client, published, mailoutbox, django_capture_on_commit_callbacks
):
    ticket = TicketFactory(name="Sunset Dhow Cruise", total_quantity=4, available_quantity=0)

    # Mallory joins first, with Ann's address.
    with django_capture_on_commit_callbacks(execute=True):
        mallory = join(api_client, ticket, "ann@example.com", name="Mallory", client="203.0.113.9")
    [entry] = WaitingListEntry.objects.filter(ticket=ticket)

    assert mallory.status_code == 202
    assert set(mallory.json()) == {"detail"} and "e-mail" in mallory.json()["detail"]
    assert "Location" not in mallory
    assert str(entry.pk) not in mallory.content.decode()  # nothing to decline, leave or take
    # Not in line yet: nothing is offered to it, its place is nobody's.
    shown = api_client.get(f"/api/tickets/waiting-list/{entry.pk}/").json()
    assert (shown["state"], shown["position"]) == ("unconfirmed", None)

    # Ann joins later: the same answer, no second entry, her link by e-mail.
    with django_capture_on_commit_callbacks(execute=True):
        ann = join(api_client, ticket, "ANN@example.com", name="Ann", client="198.51.100.7")
    assert (ann.status_code, ann.json()) == (mallory.status_code, mallory.json())
    assert WaitingListEntry.objects.filter(ticket=ticket).count() == 1
    deliver(published)
    assert [message.to for message in mailoutbox] == [["ann@example.com"]] * 2
    links = {LINK.search(message.body).group(0) for message in mailoutbox}
    [link] = links
    assert LINK.search(link).group(1) == str(entry.pk)

    # The link opens the entry's page, whose button confirms it: only now is Ann in line.
    page = client.get(urlsplit(link).path)
    assert page.status_code == 200 and "Confirm" in page.content.decode()
    confirmed = api_client.post(f"/api/tickets/waiting-list/{entry.pk}/confirm/")
    assert confirmed.status_code == 200
    assert (confirmed.json()["state"], confirmed.json()["position"]) == ("waiting", 1)

    # Whether an address waits, is unconfirmed or is new, a join answers the same.
    with django_capture_on_commit_callbacks(execute=True):
        waiting = join(api_client, ticket, "ann@example.com", name="Eve", client="192.0.2.1")
        new = join(api_client, ticket, "bo@example.com", name="Eve", client="192.0.2.1")
        unconfirmed = join(api_client, ticket, "bo@example.com", name="Eve", client="192.0.2.2")
    answers = {(r.status_code, r.content) for r in (mallory, ann, waiting, new, unconfirmed)}
    assert len(answers) == 1
