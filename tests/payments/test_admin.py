import pytest

from payments import services
from tests.factories import UserFactory
from tests.payments.factories import BookingFactory, DestinationFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/payments/payment/"


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="admin", is_staff=True, is_superuser=True))
    return client


def paid(**kwargs):
    booking = BookingFactory(**kwargs)
    return services.payment_process(payment_id=booking.payment.pk)


def test_changelist_shows_the_columns_admins_need(admin_client):
    payment = paid(customer_name="Zawadi Mushi", destination=DestinationFactory(name="Zanzibar"))
    page = admin_client.get(CHANGELIST).content.decode()
    for text in ("Zawadi Mushi", "completed", "500.00", "card", "Zanzibar", str(payment.pk)):
        assert text in page, text


def test_search_by_email_id_and_gateway_reference(admin_client):
    payment = paid(customer_email="zawadi@example.com")
    BookingFactory(customer_email="other@example.com")
    for term in (
        "zawadi@example.com",
        str(payment.pk),
        str(payment.pk)[:8],
        payment.gateway_reference,
    ):
        page = admin_client.get(CHANGELIST, {"q": term}).content.decode()
        assert "zawadi@example.com" in page and "other@example.com" not in page, term


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ({"status__exact": "pending"}, "waiting@example.com", "paid@example.com"),
        ({"status__exact": "completed"}, "paid@example.com", "waiting@example.com"),
        ({"method__exact": "mobile_money"}, "waiting@example.com", "paid@example.com"),
    ],
)
def test_filters_by_status_and_method(admin_client, query, shown, hidden):
    paid(customer_email="paid@example.com")
    BookingFactory(customer_email="waiting@example.com", payment__method="mobile_money")
    page = admin_client.get(CHANGELIST, query).content.decode()
    assert shown in page and hidden not in page


def test_refund_action_goes_through_the_service(admin_client):
    payment = paid()
    pending = BookingFactory().payment
    response = admin_client.post(
        CHANGELIST,
        {"action": "refund", "_selected_action": [str(payment.pk), str(pending.pk)]},
        follow=True,
    )
    page = response.content.decode()
    assert "1 payment(s) refunded" in page and "cannot be refunded" in page
    payment.refresh_from_db()
    pending.refresh_from_db()
    assert (payment.status, payment.booking.status) == ("refunded", "refunded")
    assert pending.status == "pending"


def test_reconcile_action_settles_a_stuck_payment(admin_client, stuck_payment):
    payment = stuck_payment(charged_with="tok_success")
    admin_client.post(CHANGELIST, {"action": "reconcile", "_selected_action": [str(payment.pk)]})
    payment.refresh_from_db()
    assert payment.status == "completed"


@pytest.mark.parametrize(
    "url", ["/admin/payments/booking/", "/admin/payments/destination/", CHANGELIST]
)
def test_change_pages_open(admin_client, url):
    payment = paid()
    assert admin_client.get(url).status_code == 200
    if "booking" in url:
        obj_url = f"{url}{payment.booking_id}/change/"
    elif "destination" in url:
        obj_url = f"{url}{payment.booking.destination_id}/change/"
    else:
        obj_url = f"{url}{payment.pk}/change/"
    assert admin_client.get(obj_url).status_code == 200


def staff_with(*codenames: str):
    from django.contrib.auth.models import Permission

    user = UserFactory(username="clerk", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def offered_actions(client) -> set[str]:
    page = client.get(CHANGELIST).content.decode()
    return {action for action in ("reconcile", "refund") if f'value="{action}"' in page}


def test_payment_actions_need_their_own_permissions(client):
    payment = paid()
    client.force_login(staff_with("view_payment"))
    assert offered_actions(client) == set()
    client.post(CHANGELIST, {"action": "refund", "_selected_action": [str(payment.pk)]})
    payment.refresh_from_db()
    assert payment.status == "completed"

    client.force_login(staff_with("view_payment", "refund_payment"))
    assert offered_actions(client) == {"refund"}
    client.post(CHANGELIST, {"action": "refund", "_selected_action": [str(payment.pk)]})
    payment.refresh_from_db()
    assert payment.status == "refunded"


def test_reconciling_is_for_those_who_may_change_payments(client):
    paid()
    client.force_login(staff_with("view_payment", "change_payment"))
    assert offered_actions(client) == {"reconcile"}
