"""Operators' tools for the waiting list (issue 14, part 4), through the admin with
Django's test client: each ticket's line with places in line order, an offer by
hand from free seats, pausing and resuming automatic offers, what adding
capacity would sell, offered seats in the live sale view, and who may do what."""

from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from project.tasks import OFFER_MAIL_TASK
from tests.factories import PurchaseFactory, TicketFactory, UserFactory, wait_in_line
from tickets.console.live_sale import live_sale
from tickets.models import Ticket, TicketPurchase, WaitingListEntry
from tickets.sale.purchases import purchase_cancel, purchase_reserve
from tickets.selectors import waiting_position
from tickets.waiting_list.offers import offer_take, seats_returned
from tickets.waiting_list.services import (
    capacity_wanted,
    ticket_pause_offers,
    waiting_list_join,
)

pytestmark = pytest.mark.django_db

State = WaitingListEntry.State
ENTRIES = "/admin/tickets/waitinglistentry/"
TICKETS = "/admin/tickets/ticket/"


# --- Helpers ---------------------------------------------------------------------------


def sold_out(*holds: int, price: str = "80.00") -> tuple[Ticket, list[TicketPurchase]]:
    """A ticket whose every seat is held by token-less purchases of these sizes."""
    ticket = TicketFactory(total_quantity=sum(holds), price=Decimal(price))
    held = []
    for quantity in holds:
        hold = PurchaseFactory(ticket=ticket, quantity=quantity, payment_token="")
        held.append(purchase_reserve(purchase_id=hold.pk))
    assert seats(ticket)["available_quantity"] == 0
    return ticket, held


def join(ticket: Ticket, email: str, quantity: int = 1) -> WaitingListEntry:
    return wait_in_line(ticket, email, quantity)


def seats(ticket: Ticket) -> dict[str, int]:
    return Ticket.objects.values("available_quantity", "offered_quantity").get(pk=ticket.pk)


def state(entry: WaitingListEntry) -> str:
    return WaitingListEntry.objects.values_list("state", flat=True).get(pk=entry.pk)


def login(client, *codenames: str, group: str | None = None):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    if group:
        user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="admin", is_staff=True, is_superuser=True))
    return client


def places(client, **query) -> dict[str, int | None]:
    """The entries' places as the changelist shows them, by e-mail."""
    response = client.get(ENTRIES, query)
    assert response.status_code == 200
    return {entry.customer_email: entry.place for entry in response.context["cl"].result_list}


def run_action(client, url: str, action: str, *objects):
    return client.post(
        url, {"action": action, "_selected_action": [str(obj.pk) for obj in objects]}, follow=True
    )


def page_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- The line -------------------------------------------------------------------------


def test_the_line_shows_places_in_order_and_none_for_offers(admin_client):
    ticket, holds = sold_out(1, 1, 2)
    first, second = join(ticket, "first@x.io", 2), join(ticket, "second@x.io", 2)
    small = join(ticket, "small@x.io", 1)
    last = join(ticket, "last@x.io", 2)
    other_ticket, _ = sold_out(1)
    join(other_ticket, "elsewhere@x.io", 1)  # another line: counts for nobody here

    purchase_cancel(purchase_id=holds[0].pk)  # one seat back: fits only `small`

    assert state(small) == State.OFFERED
    shown = places(admin_client, ticket__id__exact=ticket.pk)
    assert shown == {"first@x.io": 1, "second@x.io": 2, "small@x.io": None, "last@x.io": 3}
    assert [waiting_position(entry) for entry in (first, second, last)] == [1, 2, 3]
    page = admin_client.get(ENTRIES, {"ticket__id__exact": ticket.pk}).content.decode()
    for place in (1, 2, 3):
        assert f'<td class="field-position">{place}</td>' in page
    assert places(admin_client, state__exact="waiting")["elsewhere@x.io"] == 1


def test_an_unconfirmed_entry_shows_as_such_holds_no_place_and_wants_no_seats(admin_client):
    ticket, _ = sold_out(1)
    join(ticket, "in-line@x.io", 2)
    waiting_list_join(
        ticket_id=ticket.pk, customer_name="U", customer_email="unconfirmed@x.io", quantity=3
    )

    assert places(admin_client, ticket__id__exact=ticket.pk) == {
        "in-line@x.io": 1,
        "unconfirmed@x.io": None,
    }
    page = admin_client.get(ENTRIES, {"state__exact": "unconfirmed"}).content.decode()
    assert '<td class="field-state">Unconfirmed</td>' in page
    assert "unconfirmed@x.io" in page and "in-line@x.io" not in page
    change = admin_client.get(f"{TICKETS}{ticket.pk}/change/").content.decode()
    assert "2 seats wanted on the waiting list" in change
    assert "1 waiting, 0 open offer(s)" in change and "1 not confirmed yet" in change


def test_a_search_for_one_entry_shows_its_true_place(admin_client):
    ticket, _ = sold_out(1)
    for n in range(3):
        join(ticket, f"ahead{n}@x.io")
    me = join(ticket, "me@x.io")

    assert places(admin_client, q="me@x.io") == {"me@x.io": 4}
    assert places(admin_client, q=str(me.pk)[:8]) == {"me@x.io": 4}


def test_a_page_of_the_line_costs_the_same_queries_whatever_its_length(admin_client):
    ticket, _ = sold_out(1)
    for n in range(3):
        join(ticket, f"early{n}@x.io")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(ENTRIES).status_code == 200
        return len(captured)

    queries()  # the first page of a session fills caches
    short = queries()
    for n in range(30):
        join(ticket, f"late{n}@x.io")
    assert queries() == short <= 8  # never one per entry
    assert sorted(places(admin_client).values()) == list(range(1, 34))


def test_entries_are_read_only_in_the_admin(admin_client):
    ticket, _ = sold_out(1)
    entry = join(ticket, "wendy@x.io", 1)
    change = f"{ENTRIES}{entry.pk}/change/"

    page = admin_client.get(change).content.decode()
    assert 'name="customer_email"' not in page and "wendy@x.io" in page
    assert admin_client.post(change, {"quantity": "5"}).status_code == 403
    assert admin_client.get(f"{ENTRIES}add/").status_code == 403
    assert admin_client.post(f"{ENTRIES}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert 'value="delete_selected"' not in admin_client.get(ENTRIES).content.decode()
    entry.refresh_from_db()
    assert (entry.quantity, entry.state) == (1, State.WAITING)


def test_a_taken_offer_links_to_its_purchase(admin_client):
    ticket, holds = sold_out(1)
    entry = join(ticket, "buyer@x.io", 1)
    purchase_cancel(purchase_id=holds[0].pk)
    purchase = offer_take(entry_id=entry.pk)

    page = admin_client.get(ENTRIES).content.decode()
    assert f'href="/admin/tickets/ticketpurchase/{purchase.pk}/change/"' in page


# --- Offers by hand -------------------------------------------------------------------


def free_seats_with_a_line(free: int, *wanted: int) -> tuple[Ticket, list[WaitingListEntry]]:
    """Offers paused, the line joined while sold out, then `free` seats came back
    and (paused) went on sale: what an operator offers by hand from."""
    ticket, holds = sold_out(free, 1)
    ticket_pause_offers(ticket_id=ticket.pk, paused=True)
    line = [join(ticket, f"w{n}@x.io", quantity) for n, quantity in enumerate(wanted)]
    purchase_cancel(purchase_id=holds[0].pk)
    assert seats(ticket) == {"available_quantity": free, "offered_quantity": 0}
    return ticket, line


def test_an_offer_by_hand_moves_free_seats_to_the_entry(
    admin_client, published, django_capture_on_commit_callbacks
):
    ticket, (entry,) = free_seats_with_a_line(3, 2)

    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(admin_client, ENTRIES, "offer_now", entry)

    assert "1 waiting list entry(s) offered their seats." in page_messages(response)
    entry.refresh_from_db()
    assert entry.state == State.OFFERED and entry.offer_expires_at is not None
    assert seats(ticket) == {"available_quantity": 1, "offered_quantity": 2}
    assert published.ids(OFFER_MAIL_TASK) == [str(entry.pk)]  # the offer e-mail


def test_an_offer_by_hand_is_refused_when_too_few_seats_are_free(admin_client):
    ticket, (small, big) = free_seats_with_a_line(2, 1, 3)

    response = run_action(admin_client, ENTRIES, "offer_now", big, small)

    said = page_messages(response)
    # The oldest first: `small` gets one of the two free seats, `big` (3) is refused.
    assert f"{big.pk}: fewer than 3 seats are free to offer" in said
    assert "1 waiting list entry(s) offered their seats." in said
    assert (state(small), state(big)) == (State.OFFERED, State.WAITING)
    assert seats(ticket) == {"available_quantity": 1, "offered_quantity": 1}

    again = run_action(admin_client, ENTRIES, "offer_now", small)  # no longer waiting
    assert f"{small.pk}: only a waiting entry can be made an offer" in page_messages(again)
    assert seats(ticket) == {"available_quantity": 1, "offered_quantity": 1}


def test_staff_without_the_offer_permission_neither_see_nor_run_it(client):
    ticket, (entry,) = free_seats_with_a_line(2, 2)
    reader = login(client, "view_waitinglistentry")

    assert 'value="offer_now"' not in reader.get(ENTRIES).content.decode()
    response = run_action(reader, ENTRIES, "offer_now", entry)  # a forged post

    assert response.status_code == 200
    assert state(entry) == State.WAITING
    assert seats(ticket) == {"available_quantity": 2, "offered_quantity": 0}


def test_support_reads_the_line_and_may_offer_by_hand(client):
    _, (entry,) = free_seats_with_a_line(2, 2)
    support = login(client, group="Support")

    assert 'value="offer_now"' in support.get(ENTRIES).content.decode()
    run_action(support, ENTRIES, "offer_now", entry)

    assert state(entry) == State.OFFERED


# --- Pausing automatic offers ------------------------------------------------------------


def test_pause_and_resume_decide_where_seats_that_come_back_go(admin_client):
    ticket, holds = sold_out(2, 2)
    entry = join(ticket, "wendy@x.io", 2)

    response = run_action(admin_client, TICKETS, "pause_offers", ticket)

    assert "1 ticket(s) paused: seats that come back go on sale." in page_messages(response)
    assert Ticket.objects.get(pk=ticket.pk).waiting_list_paused
    purchase_cancel(purchase_id=holds[0].pk)  # paused: back on sale
    assert seats(ticket) == {"available_quantity": 2, "offered_quantity": 0}
    assert state(entry) == State.WAITING

    run_action(admin_client, TICKETS, "resume_offers", ticket)

    assert not Ticket.objects.get(pk=ticket.pk).waiting_list_paused
    purchase_cancel(purchase_id=holds[1].pk)  # resumed: to the line first
    assert seats(ticket) == {"available_quantity": 2, "offered_quantity": 2}
    assert state(entry) == State.OFFERED
    trail = list(ticket.events.values_list("action", flat=True))
    assert "waiting list paused" in trail and "waiting list resumed" in trail


def test_a_released_reservation_of_a_paused_ticket_goes_on_sale(admin_client):
    ticket, (hold, _) = sold_out(1, 2)
    join(ticket, "wendy@x.io", 1)
    run_action(admin_client, TICKETS, "pause_offers", ticket)

    with transaction.atomic():  # as a service gives back a reservation's seats
        seats_returned(ticket_id=ticket.pk, seats=1, unpaid=1 if hold.holds_unpaid else 0)

    assert seats(ticket) == {"available_quantity": 1, "offered_quantity": 0}


def test_pausing_needs_its_permission(client):
    ticket, _ = sold_out(1)
    reader = login(client, "view_ticket")

    assert 'value="pause_offers"' not in reader.get(TICKETS).content.decode()
    run_action(reader, TICKETS, "pause_offers", ticket)  # a forged post
    assert not Ticket.objects.get(pk=ticket.pk).waiting_list_paused

    support = login(client, group="Support")
    assert 'value="pause_offers"' in support.get(TICKETS).content.decode()
    run_action(support, TICKETS, "pause_offers", ticket)
    assert Ticket.objects.get(pk=ticket.pk).waiting_list_paused


class _FormFieldNames(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def handle_starttag(self, tag, attrs):
        name = dict(attrs).get("name")
        if tag in ("input", "select", "textarea") and name:
            self.names.add(name)


def test_the_pause_is_no_form_field_on_the_ticket_page(admin_client):
    ticket, _ = sold_out(1)
    page = admin_client.get(f"{TICKETS}{ticket.pk}/change/").content.decode()
    form = _FormFieldNames()
    form.feed(page.split('id="ticket_form"', 1)[1].split("</form>", 1)[0])

    assert "waiting_list_paused" not in form.names
    assert "offered_quantity" not in form.names and "field-offered_quantity" in page
    assert "list_held_quantity" not in form.names
    assert "On: seats that come back are offered" in page
    posted = {name: "" for name in form.names} | {
        "name": ticket.name,
        "venue": ticket.venue,
        "starts_at_0": ticket.starts_at.strftime("%Y-%m-%d"),
        "starts_at_1": ticket.starts_at.strftime("%H:%M:%S"),
        "price": "80.00",
        "currency": "USD",
        "is_on_sale": "on",
        "seats_delta": "0",
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
        "waiting_list_paused": "on",  # forged: not a field, ignored
        "offered_quantity": "7",
    }
    response = admin_client.post(f"{TICKETS}{ticket.pk}/change/", posted)

    assert response.status_code == 302
    saved = Ticket.objects.get(pk=ticket.pk)
    assert (saved.waiting_list_paused, saved.offered_quantity) == (False, 0)


# --- What adding capacity would sell ------------------------------------------------------


def test_the_ticket_pages_show_seats_wanted_times_price(admin_client):
    ticket, holds = sold_out(1, 1, price="80.00")
    join(ticket, "a@x.io", 2)
    join(ticket, "b@x.io", 1)
    offered = join(ticket, "c@x.io", 1)
    join(ticket, "d@x.io", 4)
    purchase_cancel(purchase_id=holds[0].pk)  # b (1) is offered first...
    purchase_cancel(purchase_id=holds[1].pk)  # ...then c (1): neither counts
    assert state(offered) == State.OFFERED
    sold_out(1)  # a ticket nobody waits for
    wanted = "6 seats wanted on the waiting list (= 480.00 USD if capacity were added)"

    change = admin_client.get(f"{TICKETS}{ticket.pk}/change/").content.decode()
    listing = admin_client.get(TICKETS).content.decode()

    assert capacity_wanted(ticket) == (6, Decimal("480.00"))
    assert wanted in change and wanted in listing
    assert "Nobody waiting for seats" in listing
    line = f'href="{ENTRIES}?ticket__id__exact={ticket.pk}"'
    assert line in change and "2 waiting, 2 open offer(s)" in change
    assert '<div class="readonly">2</div>' in change  # offered seats, beside the others
    assert "field-seats_kept_for_line" in change


def test_the_line_link_is_only_for_who_may_read_it(client):
    ticket, _ = sold_out(1)
    reader = login(client, "view_ticket")
    page = reader.get(f"{TICKETS}{ticket.pk}/change/").content.decode()
    assert "Nobody waiting for seats" in page  # the demand is the ticket's own data
    assert f"{ENTRIES}?ticket__id__exact" not in page


# --- The live sale view -----------------------------------------------------------------


def test_the_live_sale_counts_offered_seats_and_the_line(client):
    ticket, holds = sold_out(1, 1, 1, 1)
    join(ticket, "a@x.io", 1)
    join(ticket, "b@x.io", 3)
    join(ticket, "c@x.io", 2)
    purchase_cancel(purchase_id=holds[0].pk)  # a: offered one seat
    purchase_cancel(purchase_id=holds[1].pk)  # fits neither b nor c: kept

    sale = live_sale(ticket_id=ticket.pk)

    assert sale["seats"] == {
        "sold": 0, "held": 2, "offered": 1, "kept": 1, "free": 0, "total": 4,
    }  # fmt: skip
    assert sale["waiting_list"] == {"waiting": 2, "seats_wanted": 5, "offers": 1, "paused": False}

    support = login(client, group="Support")
    feed = support.get(f"{TICKETS}{ticket.pk}/live.json").json()
    assert feed["seats"]["offered"] == 1
    assert feed["waiting_list"]["url"] == f"{ENTRIES}?ticket__id__exact={ticket.pk}"
    page = support.get(f"{TICKETS}{ticket.pk}/live/").content.decode()
    assert '<dd data-live="seats.offered">1</dd>' in page
    assert '<dd data-live="seats.kept">1</dd>' in page
    assert '<dd data-live="waiting_list.seats_wanted">5</dd>' in page
