import pytest

from tests.factories import PurchaseFactory, TicketFactory, UserFactory
from tickets.models import TicketPurchase
from tickets.sale.payment import purchase_charge
from tickets.sale.purchases import purchase_reserve

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/tickets/ticketpurchase/"


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="admin", is_staff=True, is_superuser=True))
    return client


def confirmed_purchase(**kwargs) -> TicketPurchase:
    purchase = purchase_reserve(purchase_id=PurchaseFactory(**kwargs).pk)
    return purchase_charge(purchase_id=purchase.pk)


def test_changelist_shows_the_columns_admins_need(admin_client):
    purchase = confirmed_purchase(customer_name="Zawadi Mushi")
    page = admin_client.get(CHANGELIST).content.decode()
    for text in ("Zawadi Mushi", "confirmed", "completed", str(purchase.ticket), "160.00"):
        assert text in page


def test_search_by_ticket_code_email_and_id(admin_client):
    purchase = confirmed_purchase(customer_email="zawadi@example.com")
    PurchaseFactory(customer_email="other@example.com")
    code = purchase.codes.first().code
    for term in (code, "zawadi@example.com", str(purchase.pk)[:8]):
        page = admin_client.get(CHANGELIST, {"q": term}).content.decode()
        assert "zawadi@example.com" in page and "other@example.com" not in page, term


def test_search_by_the_request_id_that_created_it(admin_client):
    PurchaseFactory(
        customer_email="zawadi@example.com", request_id="4bf92f3577b34da6a3ce929d0e0e4736"
    )
    PurchaseFactory(customer_email="other@example.com", request_id="other-request")
    page = admin_client.get(CHANGELIST, {"q": "4bf92f3577b34da6a3ce929d0e0e4736"}).content.decode()
    assert "zawadi@example.com" in page and "other@example.com" not in page


def test_filters_by_status(admin_client):
    confirmed_purchase(customer_email="paid@example.com")
    PurchaseFactory(customer_email="waiting@example.com")
    page = admin_client.get(CHANGELIST, {"status__exact": "pending"}).content.decode()
    assert "waiting@example.com" in page and "paid@example.com" not in page


def test_change_page_shows_codes_inline(admin_client):
    purchase = confirmed_purchase(quantity=2)
    page = admin_client.get(f"{CHANGELIST}{purchase.pk}/change/").content.decode()
    for code in purchase.codes.values_list("code", flat=True):
        assert code in page


def test_refund_action_goes_through_the_service(admin_client):
    ticket = TicketFactory(total_quantity=10)
    purchase = confirmed_purchase(ticket=ticket, quantity=2)
    pending = PurchaseFactory(ticket=ticket)
    response = admin_client.post(
        CHANGELIST,
        {"action": "mark_refunded", "_selected_action": [str(purchase.pk), str(pending.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    purchase.refresh_from_db()
    ticket.refresh_from_db()
    assert purchase.status == "refunded" and ticket.available_quantity == 10
    assert "cannot be refunded" in response.content.decode()  # the pending one, refused


def test_resend_action_sends_the_tickets_again(admin_client, mailoutbox):
    purchase = confirmed_purchase(quantity=1)
    admin_client.post(
        CHANGELIST, {"action": "resend_tickets", "_selected_action": [str(purchase.pk)]}
    )
    assert len(mailoutbox) == 1 and purchase.codes.get().code in mailoutbox[0].body


def test_purchases_are_never_deleted_in_the_admin(admin_client):
    # A purchase holds seats and money: deleting its row would leave them taken.
    purchase = confirmed_purchase(quantity=1)
    assert 'value="delete_selected"' not in admin_client.get(CHANGELIST).content.decode()
    response = admin_client.post(f"{CHANGELIST}{purchase.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert TicketPurchase.objects.filter(pk=purchase.pk).exists()
