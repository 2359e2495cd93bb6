"""The operator's door (tickets/cancellation/admin.py), with Django's test
client: the action needs its own permission, shows the dry run first and
changes nothing until confirmed, and the cancellation's page shows progress."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission

from tests.factories import PurchaseFactory, TicketFactory, UserFactory
from tickets.models import EventCancellation, Ticket, TicketPurchase
from tickets.sale.payment import purchase_process

pytestmark = pytest.mark.django_db

TICKETS = "/admin/tickets/ticket/"
CANCELLATIONS = "/admin/tickets/eventcancellation/"


def login(client, *codenames: str):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


def paid_event(purchases: int = 2) -> Ticket:
    ticket = TicketFactory(total_quantity=purchases, price=Decimal("25.00"))
    for _ in range(purchases):
        purchase_process(purchase_id=PurchaseFactory(ticket=ticket, quantity=1).pk)
    return ticket


def run_action(client, ticket: Ticket, **extra):
    body = {"action": "cancel_event", "_selected_action": [str(ticket.pk)], **extra}
    return client.post(TICKETS, body)


def actions_offered(client) -> set[str]:
    form = client.get(TICKETS).context["action_form"]
    return set() if form is None else {name for name, _ in form.fields["action"].choices}


def test_without_the_permission_the_action_is_hidden_and_refused(client):
    ticket = paid_event()
    login(client, "view_ticket", "change_ticket", "view_eventcancellation")

    assert "cancel_event" not in actions_offered(client)
    run_action(client, ticket, cancel_event_confirmed="yes")

    assert Ticket.objects.get(pk=ticket.pk).is_on_sale
    assert not EventCancellation.objects.exists()


def test_support_does_not_get_the_permission():
    support = Group.objects.get(name="Support")
    assert not support.permissions.filter(codename="cancel_event").exists()


def test_the_dry_run_comes_first_and_the_confirm_cancels(
    client, django_capture_on_commit_callbacks
):
    ticket = paid_event()
    login(client, "view_ticket", "cancel_event", "view_eventcancellation")
    assert "cancel_event" in actions_offered(client)

    dry_run = run_action(client, ticket)

    assert dry_run.status_code == 200
    assert dry_run.context["figures"]["purchases_to_refund"] == 2
    assert "50.00 USD" in dry_run.content.decode()
    assert Ticket.objects.get(pk=ticket.pk).is_on_sale  # nothing changed yet

    with django_capture_on_commit_callbacks():
        confirmed = run_action(client, ticket, cancel_event_confirmed="yes")

    cancellation = EventCancellation.objects.get(ticket=ticket)
    assert confirmed.status_code == 302
    assert confirmed["Location"] == f"{CANCELLATIONS}{cancellation.pk}/change/"
    assert not Ticket.objects.get(pk=ticket.pk).is_on_sale
    assert cancellation.figures["money_to_refund"] == {"USD": "50.00"}

    # Asked again, the action answers the cancellation already made.
    again = run_action(client, ticket)
    assert again["Location"] == confirmed["Location"]
    assert EventCancellation.objects.count() == 1


def test_the_changelist_shows_done_pending_failed_and_money_refunded(client, published):
    ticket = paid_event()
    login(client, "view_eventcancellation")
    purchase = TicketPurchase.objects.filter(ticket=ticket).first()
    EventCancellation.objects.create(ticket=ticket, figures={"purchases_to_refund": 2})
    TicketPurchase.objects.filter(pk=purchase.pk).update(
        status="refunded", payment_status="refunded", refund_reason="event_cancelled"
    )

    response = client.get(CANCELLATIONS)

    assert response.status_code == 200
    row = response.context["cl"].result_list[0]
    admin = response.context["cl"].model_admin
    assert (admin.done(row), admin.pending(row), admin.failed(row)) == (1, 1, 0)
    assert admin.money_refunded(row) == "25.00 USD"


def test_the_cancellations_need_their_view_permission(client):
    login(client, "view_ticket")
    assert client.get(CANCELLATIONS).status_code == 403


def test_a_cancelled_ticket_links_to_its_refunds_and_cannot_go_back_on_sale(
    client, django_capture_on_commit_callbacks
):
    ticket = paid_event()
    login(client, "view_ticket", "change_ticket", "cancel_event", "view_eventcancellation")
    with django_capture_on_commit_callbacks():
        run_action(client, ticket, cancel_event_confirmed="yes")
    cancellation = EventCancellation.objects.get(ticket=ticket)

    page = client.get(f"{TICKETS}{ticket.pk}/change/")

    assert f"{CANCELLATIONS}{cancellation.pk}/change/" in page.content.decode()
    assert "is_on_sale" not in page.context["adminform"].form.fields
