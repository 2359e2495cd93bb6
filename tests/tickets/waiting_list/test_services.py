"""The waiting list's rules (tickets/waiting_list/offers.py), service by service and
through the API: who gets freed seats, when offers lapse or pass on, and that
the inventory adds up with offered seats as a held category at every step."""

from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from project.tasks import ENTRY_MAIL_TASK, OFFER_MAIL_TASK
from tests.factories import PurchaseFactory, TicketFactory, purchase_request, wait_in_line
from tests.inventory import assert_inventory_adds_up
from tickets.console.live_sale import live_sale
from tickets.errors import NotEnoughFreeSeats, OfferNotOpen
from tickets.models import Ticket, TicketPurchase, WaitingListEntry
from tickets.refunds.services import purchase_refund
from tickets.sale.payment import purchase_process, ticket_process_batches
from tickets.sale.purchases import (
    purchase_cancel,
    purchase_create,
    purchase_reserve,
    purchase_submit_payment,
    purchases_expire_due,
)
from tickets.seats import ticket_change_capacity
from tickets.waiting_list.offers import offer_by_hand, offer_decline, offer_take, offers_lapse_due
from tickets.waiting_list.services import (
    capacity_wanted,
    entry_mail,
    offer_mail,
    ticket_pause_offers,
    waiting_list_confirm,
    waiting_list_join,
    waiting_list_leave,
)
from workers.tasks import purge_unconfirmed_waiting_entries

pytestmark = pytest.mark.django_db

Status = TicketPurchase.Status
State = WaitingListEntry.State


def sold_out_with_holds(seats: int) -> Ticket:
    """A ticket whose every seat is held by a token-less purchase of one seat."""
    ticket = TicketFactory(total_quantity=seats)
    for n in range(seats):
        hold = PurchaseFactory(
            ticket=ticket, quantity=1, payment_token="", customer_email=f"h{n}@x.io"
        )
        purchase_reserve(purchase_id=hold.pk)
    ticket.refresh_from_db()
    assert ticket.available_quantity == 0
    return ticket


def join(ticket, email: str, quantity: int = 1) -> WaitingListEntry:
    return wait_in_line(ticket, email, quantity)


def states(entries) -> list[str]:
    return [WaitingListEntry.objects.get(pk=entry.pk).state for entry in entries]


def expire_all_holds() -> int:
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        return purchases_expire_due()


# --- joining -----------------------------------------------------------------------------


def test_a_buyer_confirms_from_the_email_and_then_learns_their_place(
    api_client, published, django_capture_on_commit_callbacks
):
    ticket = sold_out_with_holds(2)
    url = f"/api/tickets/{ticket.pk}/waiting-list/"
    body = {"customer_name": "Wendy", "customer_email": "wendy@example.com", "quantity": 2}

    with django_capture_on_commit_callbacks(execute=True):
        first = api_client.post(url, body, format="json")
        second = api_client.post(url, {**body, "customer_email": "zoe@example.com"}, format="json")
    wendy, zoe = published.ids(ENTRY_MAIL_TASK)  # the links go to the addresses

    assert first.status_code == second.status_code == 202
    assert first.json() == second.json() and "Location" not in first
    assert states([WaitingListEntry(pk=wendy), WaitingListEntry(pk=zoe)]) == ["unconfirmed"] * 2
    # Zoe confirms first: the line counts from the confirmation, not the join.
    confirmed = api_client.post(f"/api/tickets/waiting-list/{zoe}/confirm/")
    assert confirmed.status_code == 200
    assert (confirmed.json()["state"], confirmed.json()["position"]) == ("waiting", 1)
    later = api_client.post(f"/api/tickets/waiting-list/{wendy}/confirm/").json()
    assert (later["state"], later["position"]) == ("waiting", 2)
    again = api_client.post(f"/api/tickets/waiting-list/{zoe}/confirm/")
    assert again.status_code == 200 and again.json()["position"] == 1  # idempotent
    assert again.json()["confirmed_at"] == confirmed.json()["confirmed_at"]
    assert WaitingListEntry.objects.count() == 2


def test_confirming_while_the_seats_are_on_sale_is_409_and_leaves_it_unconfirmed(
    api_client, published
):
    ticket = sold_out_with_holds(2)
    entry = waiting_list_join(
        ticket_id=ticket.pk, customer_name="W", customer_email="w@example.com", quantity=2
    )
    expire_all_holds()  # nobody waits: both seats go on sale

    response = api_client.post(f"/api/tickets/waiting-list/{entry.pk}/confirm/")

    assert response.status_code == 409 and response.json()["code"] == "seats_on_sale"
    assert states([entry]) == ["unconfirmed"]
    assert_inventory_adds_up(ticket)


def test_joining_while_seats_are_on_sale_is_409_and_stores_nothing(api_client):
    ticket = TicketFactory(total_quantity=10)
    response = api_client.post(
        f"/api/tickets/{ticket.pk}/waiting-list/",
        {"customer_name": "Wendy", "customer_email": "w@example.com", "quantity": 1},
        format="json",
    )
    assert response.status_code == 409 and response.json()["code"] == "seats_on_sale"
    assert not WaitingListEntry.objects.exists()


@pytest.mark.parametrize(
    "body, field",
    [
        (
            {"customer_name": "W", "customer_email": "not-an-address", "quantity": 1},
            "customer_email",
        ),
        ({"customer_name": "W", "customer_email": "w@example.com", "quantity": 0}, "quantity"),
        ({"customer_name": "W", "customer_email": "w@example.com", "quantity": "2"}, "quantity"),
        ({"customer_email": "w@example.com", "quantity": 1}, "customer_name"),
    ],
)
def test_bad_input_is_400_and_stores_nothing(api_client, body, field):
    ticket = sold_out_with_holds(1)
    response = api_client.post(f"/api/tickets/{ticket.pk}/waiting-list/", body, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not WaitingListEntry.objects.exists()


def test_a_ticket_not_on_sale_has_no_list(api_client):
    closed = TicketFactory(is_on_sale=False, available_quantity=0)
    response = api_client.post(
        f"/api/tickets/{closed.pk}/waiting-list/",
        {"customer_name": "W", "customer_email": "w@example.com", "quantity": 1},
        format="json",
    )
    assert response.status_code == 400
    assert not WaitingListEntry.objects.exists()


def test_one_client_cannot_fill_the_line(api_client, settings):
    settings.HOLD_CAP_PER_CLIENT = 3
    ticket = sold_out_with_holds(1)
    url = f"/api/tickets/{ticket.pk}/waiting-list/"
    body = {"customer_name": "Bot", "quantity": 2}
    first = api_client.post(url, {**body, "customer_email": "b1@example.com"}, format="json")
    second = api_client.post(url, {**body, "customer_email": "b2@example.com"}, format="json")
    assert first.status_code == 202
    assert second.status_code == 429 and second.json()["code"] == "waiting_list_cap_reached"


def test_an_unconfirmed_entry_is_offered_nothing_and_wants_no_seats(published):
    ticket = sold_out_with_holds(2)
    unconfirmed = waiting_list_join(
        ticket_id=ticket.pk, customer_name="U", customer_email="u@example.com", quantity=1
    )
    waiting = join(ticket, "w@example.com", 2)

    assert capacity_wanted(ticket)[0] == 2  # the operator's number: confirmed entries only
    assert live_sale(ticket_id=ticket.pk)["waiting_list"]["waiting"] == 1
    purchase_cancel(purchase_id=TicketPurchase.objects.filter(ticket=ticket).first().pk)

    # One seat back fits only the unconfirmed entry: it is kept for the line instead.
    assert states([unconfirmed, waiting]) == ["unconfirmed", "waiting"]
    ticket.refresh_from_db()
    assert (ticket.available_quantity, ticket.list_held_quantity) == (0, 1)
    # Confirmed, it is last in line, and the kept seat is dealt to it at once.
    assert waiting_list_confirm(entry_id=unconfirmed.pk).state == State.OFFERED
    ticket.refresh_from_db()
    assert (ticket.offered_quantity, ticket.list_held_quantity) == (1, 0)
    assert_inventory_adds_up(ticket)


def test_an_unconfirmed_entry_may_be_removed_and_the_address_join_again(published):
    ticket = sold_out_with_holds(1)
    entry = waiting_list_join(
        ticket_id=ticket.pk, customer_name="Mallory", customer_email="w@example.com", quantity=1
    )

    assert waiting_list_leave(entry_id=entry.pk).state == State.LEFT
    assert waiting_list_confirm(entry_id=entry.pk).state == State.LEFT  # ended: stays so
    again = wait_in_line(ticket, "w@example.com", name="Wendy")
    assert again.pk != entry.pk and again.state == State.WAITING


def test_entries_never_confirmed_are_purged_a_while_after_their_last_join(settings, published):
    settings.WAITING_LIST_CONFIRM_HOURS = 24
    ticket = sold_out_with_holds(1)
    now = timezone.now()
    with time_machine.travel(now - timedelta(hours=30)):
        forgotten, joined_again, confirmed = (
            waiting_list_join(
                ticket_id=ticket.pk, customer_name="W", customer_email=email, quantity=1
            )
            for email in ("a@example.com", "b@example.com", "c@example.com")
        )
        waiting_list_confirm(entry_id=confirmed.pk)
    with time_machine.travel(now - timedelta(hours=2)):  # its link is e-mailed again
        waiting_list_join(
            ticket_id=ticket.pk, customer_name="W", customer_email="b@example.com", quantity=1
        )

    assert purge_unconfirmed_waiting_entries() == 1  # the task body, run in this process

    left = WaitingListEntry.objects.filter(ticket=ticket).order_by("customer_email")
    assert [(entry.pk, entry.state) for entry in left] == [
        (joined_again.pk, State.UNCONFIRMED),
        (confirmed.pk, State.WAITING),
    ]
    assert not WaitingListEntry.objects.filter(pk=forgotten.pk).exists()


# --- offers --------------------------------------------------------------------------------


def test_freed_seats_go_to_the_oldest_entries_that_fit_not_to_open_sale(
    api_client, published, django_capture_on_commit_callbacks
):
    ticket = sold_out_with_holds(3)
    quantities = [2, 1, 1, 1, 1]
    entries = [join(ticket, f"w{n}@example.com", q) for n, q in enumerate(quantities)]

    with django_capture_on_commit_callbacks(execute=True):
        assert expire_all_holds() == 3

    # Three holds of one seat each come back, one at a time: each goes to the
    # oldest entry it fits (the first asks for two and is passed over).
    assert states(entries) == ["waiting", "offered", "offered", "offered", "waiting"]
    ticket.refresh_from_db()
    assert (ticket.available_quantity, ticket.offered_quantity) == (0, 3)
    assert published.ids(OFFER_MAIL_TASK) == [str(entry.pk) for entry in entries[1:4]]
    assert_inventory_adds_up(ticket)
    # An open buyer arriving now finds nothing to buy.
    refused = api_client.post(
        "/api/tickets/purchase/direct/", purchase_request(ticket), format="json"
    )
    assert refused.status_code == 409 and refused.json()["code"] == "sold_out"


def test_a_seat_that_fits_nobody_yet_is_kept_for_the_line_not_sold(api_client, published):
    ticket = sold_out_with_holds(2)
    first, second = TicketPurchase.objects.filter(ticket=ticket).order_by("created_at")
    entry = join(ticket, "w@example.com", 2)

    purchase_cancel(purchase_id=first.pk)

    ticket.refresh_from_db()
    assert states([entry]) == ["waiting"]
    assert (ticket.available_quantity, ticket.list_held_quantity) == (0, 1)
    assert_inventory_adds_up(ticket)
    # An open buyer is accepted (a hold is still pending) and waits in line for
    # that seat: the seat kept for the list is not theirs.
    accepted = api_client.post(
        "/api/tickets/purchase/direct/", purchase_request(ticket), format="json"
    )
    ticket_process_batches(ticket_id=ticket.pk)
    buyer = TicketPurchase.objects.get(pk=accepted.json()["purchase_id"])
    assert (buyer.status, buyer.inventory_reserved) == (Status.PENDING, False)

    # The hold's seat comes back: the buyer waiting in line gets it, before the list.
    purchase_cancel(purchase_id=second.pk)
    ticket_process_batches(ticket_id=ticket.pk)

    buyer.refresh_from_db()
    ticket.refresh_from_db()
    assert buyer.status == Status.CONFIRMED
    assert states([entry]) == ["waiting"]
    assert (ticket.available_quantity, ticket.list_held_quantity) == (0, 1)
    assert_inventory_adds_up(ticket)


def test_seats_kept_for_the_line_go_on_sale_when_the_line_empties(published):
    ticket = sold_out_with_holds(1)
    entry = join(ticket, "w@example.com", 2)
    expire_all_holds()
    ticket.refresh_from_db()
    assert ticket.list_held_quantity == 1

    waiting_list_leave(entry_id=entry.pk)

    ticket.refresh_from_db()
    assert states([entry]) == ["left"]
    assert (ticket.available_quantity, ticket.list_held_quantity) == (1, 0)
    assert_inventory_adds_up(ticket)


def test_with_nobody_waiting_freed_seats_go_back_on_sale(published):
    ticket = sold_out_with_holds(2)
    expire_all_holds()
    ticket.refresh_from_db()
    assert (ticket.available_quantity, ticket.offered_quantity) == (2, 0)
    assert_inventory_adds_up(ticket)


def test_seats_beyond_the_line_go_on_sale(published):
    ticket = sold_out_with_holds(3)
    entry = join(ticket, "w@example.com", 2)
    expire_all_holds()
    ticket.refresh_from_db()
    assert states([entry]) == ["offered"]
    assert (ticket.available_quantity, ticket.offered_quantity) == (1, 2)
    assert_inventory_adds_up(ticket)


def test_an_offer_taken_is_bought_with_the_offered_seats(api_client, published):
    ticket = sold_out_with_holds(2)
    entry = join(ticket, "w@example.com", 2)
    expire_all_holds()

    response = api_client.post(
        f"/api/tickets/waiting-list/{entry.pk}/purchase/",
        {"payment_method": "card", "payment_token": "tok_success"},
        format="json",
    )

    assert response.status_code == 202
    purchase = TicketPurchase.objects.get(pk=response.json()["purchase_id"])
    assert purchase.inventory_reserved and purchase.quantity == 2
    assert (purchase.customer_email, purchase.total_amount) == ("w@example.com", 2 * ticket.price)
    ticket.refresh_from_db()
    assert (ticket.available_quantity, ticket.offered_quantity) == (0, 0)
    assert_inventory_adds_up(ticket)
    # The worker charges it like any seated purchase.
    confirmed = purchase_process(purchase_id=purchase.pk)
    assert confirmed.status == Status.CONFIRMED and confirmed.codes.count() == 2
    assert_inventory_adds_up(ticket)
    # Taking it again answers the same purchase; nothing more is taken.
    again = api_client.post(
        f"/api/tickets/waiting-list/{entry.pk}/purchase/",
        {"payment_token": "tok_success"},
        format="json",
    )
    assert again.status_code == 202 and again.json()["purchase_id"] == str(purchase.pk)
    assert TicketPurchase.objects.filter(ticket=ticket, quantity=2).count() == 1


def test_a_declined_card_on_an_offer_opens_it_again_for_another_card(published):
    ticket = sold_out_with_holds(1)
    first, second = join(ticket, "a@example.com"), join(ticket, "b@example.com")
    expire_all_holds()
    declined = offer_take(entry_id=first.pk, payment_token="tok_decline")

    failed = purchase_process(purchase_id=declined.pk)

    assert (failed.status, failed.failure_reason) == (Status.FAILED, "payment_declined")
    assert states([first, second]) == ["offered", "waiting"]
    assert_inventory_adds_up(ticket)
    retried = offer_take(entry_id=first.pk, payment_token="tok_success")
    assert retried.pk != declined.pk
    assert purchase_process(purchase_id=retried.pk).status == Status.CONFIRMED
    assert states([first, second]) == ["taken", "waiting"]
    assert_inventory_adds_up(ticket)


def test_a_declined_card_after_the_offer_ended_passes_the_seats_on(published):
    ticket = sold_out_with_holds(1)
    first, second = join(ticket, "a@example.com"), join(ticket, "b@example.com")
    expire_all_holds()
    purchase = offer_take(entry_id=first.pk, payment_token="tok_decline")
    WaitingListEntry.objects.filter(pk=first.pk).update(
        offer_expires_at=timezone.now() - timedelta(seconds=1)
    )

    purchase_process(purchase_id=purchase.pk)

    assert states([first, second]) == ["taken", "offered"]
    assert_inventory_adds_up(ticket)


def test_a_lapsed_offer_passes_to_the_next_entry_then_back_on_sale(settings, published):
    settings.WAITING_LIST_OFFER_SECONDS = 60
    ticket = sold_out_with_holds(1)
    first, second = join(ticket, "a@example.com"), join(ticket, "b@example.com")
    expire_all_holds()
    assert states([first, second]) == ["offered", "waiting"]

    in_two_hours = timezone.now() + timedelta(hours=2)
    assert offers_lapse_due(now=in_two_hours) == 1
    assert states([first, second]) == ["lapsed", "offered"]
    assert_inventory_adds_up(ticket)
    with pytest.raises(OfferNotOpen):
        offer_take(entry_id=first.pk, payment_token="tok_success")

    with time_machine.travel(in_two_hours + timedelta(hours=1)):
        assert offers_lapse_due() == 1
    ticket.refresh_from_db()
    assert states([second]) == ["lapsed"]
    assert (ticket.available_quantity, ticket.offered_quantity) == (1, 0)
    assert_inventory_adds_up(ticket)


def test_decline_and_leave_pass_the_seats_on(api_client, published):
    ticket = sold_out_with_holds(1)
    first, second, third = (join(ticket, f"{n}@example.com") for n in "abc")
    expire_all_holds()

    declined = api_client.post(f"/api/tickets/waiting-list/{first.pk}/decline/")
    assert declined.status_code == 200 and declined.json()["state"] == "declined"
    assert states([first, second, third]) == ["declined", "offered", "waiting"]
    left = api_client.post(f"/api/tickets/waiting-list/{second.pk}/leave/")
    assert left.json()["state"] == "declined"  # leaving with an open offer declines it
    assert states([third]) == ["offered"]
    assert api_client.post(f"/api/tickets/waiting-list/{first.pk}/decline/").status_code == 200
    gone = api_client.post(f"/api/tickets/waiting-list/{third.pk}/purchase/", {}, format="json")
    assert gone.status_code == 202  # no token: the seats stay held until the offer ends
    assert api_client.post(f"/api/tickets/waiting-list/{third.pk}/decline/").status_code == 409
    assert_inventory_adds_up(ticket)


def test_a_refund_feeds_the_list_not_the_open_sale(published):
    ticket = TicketFactory(total_quantity=2)
    paid = purchase_create(
        ticket_id=ticket.pk,
        quantity=2,
        customer_name="Early",
        customer_email="early@example.com",
        payment_method="card",
        payment_token="tok_success",
    )
    assert purchase_process(purchase_id=paid.pk).status == Status.CONFIRMED
    entry = join(ticket, "w@example.com", 2)

    purchase_refund(purchase_id=paid.pk)

    ticket.refresh_from_db()
    assert states([entry]) == ["offered"]
    assert (ticket.available_quantity, ticket.offered_quantity) == (0, 2)
    assert_inventory_adds_up(ticket)


def test_capacity_added_goes_to_the_list_first(published):
    ticket = sold_out_with_holds(1)
    entries = [join(ticket, f"{n}@example.com", 2) for n in "ab"]
    ticket_change_capacity(ticket_id=ticket.pk, delta=3)
    ticket.refresh_from_db()
    # Two of the three go to the first; the third is kept: the second waits for two.
    assert states(entries) == ["offered", "waiting"]
    assert (ticket.total_quantity, ticket.available_quantity) == (4, 0)
    assert (ticket.offered_quantity, ticket.list_held_quantity) == (2, 1)
    assert_inventory_adds_up(ticket)


def test_a_paused_list_lets_freed_seats_go_on_sale(published):
    ticket = sold_out_with_holds(1)
    entry = join(ticket, "w@example.com")
    ticket_pause_offers(ticket_id=ticket.pk, paused=True)
    expire_all_holds()
    ticket.refresh_from_db()
    assert states([entry]) == ["waiting"] and ticket.available_quantity == 1
    ticket_pause_offers(ticket_id=ticket.pk, paused=False)
    ticket.refresh_from_db()
    assert not ticket.waiting_list_paused
    assert_inventory_adds_up(ticket)


def test_an_offer_by_hand_takes_free_seats(published):
    ticket = sold_out_with_holds(1)
    entry = join(ticket, "w@example.com")
    with pytest.raises(NotEnoughFreeSeats):
        offer_by_hand(entry_id=entry.pk)  # nothing free yet
    ticket_pause_offers(ticket_id=ticket.pk, paused=True)
    expire_all_holds()
    offer_by_hand(entry_id=entry.pk)
    ticket.refresh_from_db()
    assert states([entry]) == ["offered"]
    assert ticket.events.filter(action="waiting-list offer by hand").count() == 1
    assert (ticket.available_quantity, ticket.offered_quantity) == (0, 1)
    assert_inventory_adds_up(ticket)


def test_the_database_refuses_more_offered_seats_than_the_ticket_has():
    from django.db import IntegrityError

    ticket = TicketFactory(total_quantity=2, available_quantity=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Ticket.objects.filter(pk=ticket.pk).update(offered_quantity=2)


def test_the_offer_email_links_to_the_entry_page(mailoutbox, published, settings):
    settings.SITE_URL = "https://tickets.example.com"
    ticket = sold_out_with_holds(1)
    entry = join(ticket, "w@example.com")
    expire_all_holds()

    assert offer_mail(entry_id=entry.pk) is True

    [message] = mailoutbox
    assert message.to == ["w@example.com"] and ticket.name in message.subject
    assert f"https://tickets.example.com/waiting-list/{entry.pk}/" in message.body
    offer_decline(entry_id=entry.pk)
    assert offer_mail(entry_id=entry.pk) is False  # no longer open: no mail


def test_a_purchase_that_failed_sold_out_points_to_the_waiting_list(api_client, published):
    ticket = sold_out_with_holds(1)
    accepted = api_client.post(
        "/api/tickets/purchase/direct/", purchase_request(ticket), format="json"
    )
    ticket_process_batches(ticket_id=ticket.pk)  # waits: the hold may come back
    hold = TicketPurchase.objects.filter(ticket=ticket, payment_token="").get()
    purchase_submit_payment(purchase_id=hold.pk, payment_token="tok_success")
    purchase_process(purchase_id=hold.pk)  # paid: nothing can come back now
    ticket_process_batches(ticket_id=ticket.pk)

    status = api_client.get(accepted["Location"]).json()

    assert (status["status"], status["failure_reason"]) == ("failed", "sold_out")
    assert status["waiting_list"] == f"http://testserver/api/tickets/{ticket.pk}/waiting-list/"
    joined = api_client.post(
        status["waiting_list"],
        {"customer_name": "Ann", "customer_email": "ann@example.com", "quantity": 1},
        format="json",
    )
    assert joined.status_code == 202


def test_the_entry_email_sends_the_link_to_confirm_then_to_the_place(mailoutbox, published):
    ticket = sold_out_with_holds(1)
    entry = waiting_list_join(
        ticket_id=ticket.pk, customer_name="W", customer_email="w@example.com", quantity=1
    )

    assert entry_mail(entry_id=entry.pk) is True
    waiting_list_confirm(entry_id=entry.pk)
    assert entry_mail(entry_id=entry.pk) is True

    confirm, place = mailoutbox
    assert confirm.to == place.to == ["w@example.com"]
    assert confirm.subject.startswith("Confirm your place on the waiting list")
    assert "nothing happens without your confirmation" in confirm.body
    assert place.subject.startswith("You are on the waiting list")
    assert (
        f"/waiting-list/{entry.pk}/" in confirm.body and f"/waiting-list/{entry.pk}/" in place.body
    )
    waiting_list_leave(entry_id=entry.pk)
    assert entry_mail(entry_id=entry.pk) is False
