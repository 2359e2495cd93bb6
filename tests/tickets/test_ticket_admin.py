"""A ticket in the admin: its seat counts are read-only, and capacity changes by a
delta through `ticket_change_capacity`, so a page opened before a sale can never
give the sold seats back (or take free ones away) when it is saved."""

from html.parser import HTMLParser

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group

from tests.factories import PurchaseFactory, TicketFactory, UserFactory
from tickets.models import Ticket, TicketPurchase
from tickets.sale.payment import purchase_charge
from tickets.sale.purchases import purchase_reserve

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/tickets/ticket/add/"


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="admin", is_staff=True, is_superuser=True))
    return client


def change_url(ticket: Ticket) -> str:
    return f"/admin/tickets/ticket/{ticket.pk}/change/"


class _FormFields(HTMLParser):
    """What a browser would send back from the ticket's form, as the page shows it."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {}
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""
        if tag != "input" or not name or attrs.get("type") == "submit":
            return
        if attrs.get("type") == "checkbox":
            if "checked" in attrs:
                self.data[name] = "on"
            return
        self.data[name] = attrs.get("value") or ""

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data.lstrip("\n")

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None


def open_page(client, url: str) -> tuple[str, dict[str, str]]:
    page = client.get(url).content.decode()
    fields = _FormFields()
    fields.feed(page.split('id="ticket_form"', 1)[1].split("</form>", 1)[0])
    return page, fields.data


def sell(ticket: Ticket, quantity: int) -> TicketPurchase:
    purchase = PurchaseFactory(ticket=ticket, quantity=quantity)
    purchase_reserve(purchase_id=purchase.pk)
    return purchase_charge(purchase_id=purchase.pk)


def seats(ticket: Ticket) -> tuple[int, int]:
    ticket.refresh_from_db()
    return ticket.total_quantity, ticket.available_quantity


def test_the_seat_counts_are_shown_read_only_beside_a_capacity_field(admin_client):
    ticket = TicketFactory(total_quantity=40)
    sell(ticket, 3)
    page, form = open_page(admin_client, change_url(ticket))
    for field in ("total_quantity", "available_quantity", "unpaid_held_quantity"):
        assert field not in form
        assert f"field-{field}" in page  # shown, as text
    assert form["seats_delta"] == "0"
    assert '<div class="readonly">37</div>' in page  # available, after the sale


def test_saving_a_stale_admin_page_for_a_ticket_leaves_sold_seats_sold(admin_client):
    ticket = TicketFactory(total_quantity=10, name="Night Tour")
    _, stale = open_page(admin_client, change_url(ticket))

    sell(ticket, 4)  # meanwhile, at the box office
    assert seats(ticket) == (10, 6)
    # The page as it was opened; an older page (or a forged post) might even carry the
    # seat counts of then: they are not fields any more and are ignored.
    posted = {**stale, "name": "Night Tour (rescheduled)"}
    posted.update(total_quantity="10", available_quantity="10", unpaid_held_quantity="0")
    response = admin_client.post(change_url(ticket), posted)

    assert response.status_code == 302
    assert seats(ticket) == (10, 6)
    assert ticket.name == "Night Tour (rescheduled)"


def test_a_stale_page_adding_seats_adds_them_to_what_is_left_now(admin_client):
    ticket = TicketFactory(total_quantity=10)
    _, stale = open_page(admin_client, change_url(ticket))
    sell(ticket, 4)

    response = admin_client.post(change_url(ticket), {**stale, "seats_delta": "5"}, follow=True)

    assert seats(ticket) == (15, 11)
    assert "+5 seats: 15 in all, 11 free." in response.content.decode()
    assert ticket.events.filter(action="capacity changed", purchase=None).exists()


def test_free_seats_can_be_removed(admin_client):
    ticket = TicketFactory(total_quantity=10)
    sell(ticket, 4)
    _, form = open_page(admin_client, change_url(ticket))
    admin_client.post(change_url(ticket), {**form, "seats_delta": "-6"})
    assert seats(ticket) == (4, 0)


def test_removing_more_seats_than_are_free_is_refused_and_changes_nothing(admin_client):
    ticket = TicketFactory(total_quantity=10, name="Dhow Cruise")
    sell(ticket, 8)
    _, form = open_page(admin_client, change_url(ticket))
    logged = LogEntry.objects.count()

    response = admin_client.post(
        change_url(ticket), {**form, "name": "Renamed", "seats_delta": "-3"}, follow=True
    )

    page = response.content.decode()
    assert response.redirect_chain == [(change_url(ticket), 302)]
    assert "Nothing was saved" in page and "more than are free" in page
    assert "was changed successfully" not in page
    assert seats(ticket) == (10, 2)
    assert ticket.name == "Dhow Cruise"
    assert LogEntry.objects.count() == logged
    assert not ticket.events.filter(action="capacity changed").exists()


def test_a_new_ticket_sets_its_total_once_and_all_of_it_is_free(admin_client):
    _, form = open_page(admin_client, ADD_URL)
    assert "total_quantity" in form
    assert "available_quantity" not in form and "seats_delta" not in form
    form.update(
        name="Spice Farm Tour",
        venue="Kizimbani",
        starts_at_0="2030-01-15",
        starts_at_1="10:00:00",
        price="35.00",
        total_quantity="30",
        available_quantity="999",  # not a field of the add form: ignored
    )

    response = admin_client.post(ADD_URL, form)

    assert response.status_code == 302
    ticket = Ticket.objects.get(name="Spice Farm Tour")
    assert ticket.total_quantity == ticket.available_quantity == 30
    assert ticket.unpaid_held_quantity == 0


def test_support_sees_a_ticket_but_cannot_change_its_capacity(client):
    support = UserFactory(username="support", is_staff=True)
    support.groups.add(Group.objects.get(name="Support"))
    client.force_login(support)
    ticket = TicketFactory(total_quantity=10)

    page, form = open_page(client, change_url(ticket))

    assert '<div class="readonly">10</div>' in page
    assert "seats_delta" not in page
    client.post(change_url(ticket), {**form, "seats_delta": "5"})
    assert seats(ticket) == (10, 10)
