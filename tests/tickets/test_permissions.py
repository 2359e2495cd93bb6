"""Least privilege: each staff capability is its own permission, in the API and in
the admin. `is_staff` alone grants none; the "Door staff" group may only redeem;
"Support" may read and help but not refund; a superuser may do everything."""

import pytest
from django.contrib.auth.models import Group, Permission
from rest_framework.test import APIClient

from tests.factories import PurchaseFactory, UserFactory
from tickets.models import TicketCode, TicketPurchase
from tickets.sale.payment import purchase_charge
from tickets.sale.purchases import purchase_reserve

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/tickets/ticketpurchase/"
ACTIONS = ("rerun_processing", "mark_refunded", "resend_tickets")


def paid_purchase() -> TicketPurchase:
    """Confirmed through the services, captured at the (simulated) gateway, one code."""
    purchase = purchase_reserve(purchase_id=PurchaseFactory(quantity=1).pk)
    return purchase_charge(purchase_id=purchase.pk)


def api_as(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def in_group(name: str, **fields):
    user = UserFactory(is_staff=True, **fields)
    user.groups.add(Group.objects.get(name=name))
    return user


def calls(client: APIClient, purchase: TicketPurchase) -> dict[str, int]:
    code = purchase.codes.get().code
    return {
        "redeem": client.post(f"/api/tickets/codes/{code}/redeem/").status_code,
        "refund": client.post(f"/api/tickets/purchase/{purchase.pk}/refund/").status_code,
        "debug": client.get("/api/tickets/purchases/debug/").status_code,
    }


def unchanged(purchase: TicketPurchase) -> bool:
    purchase.refresh_from_db()
    code = purchase.codes.get()
    return (purchase.status, code.status) == ("confirmed", TicketCode.Status.VALID)


def test_a_staff_user_without_permissions_gets_403_on_refund_redeem_and_debug():
    purchase = paid_purchase()
    staff = UserFactory(username="clerk", is_staff=True)

    assert calls(api_as(staff), purchase) == {"redeem": 403, "refund": 403, "debug": 403}
    assert unchanged(purchase)


def test_door_staff_can_redeem_and_nothing_else():
    purchase = paid_purchase()
    door = in_group("Door staff", username="door")

    assert calls(api_as(door), purchase) == {"redeem": 200, "refund": 403, "debug": 403}
    purchase.refresh_from_db()
    assert purchase.status == "confirmed"
    assert purchase.codes.get().status == TicketCode.Status.USED


def test_support_reads_the_debug_listing_but_neither_refunds_nor_redeems():
    purchase = paid_purchase()
    support = in_group("Support", username="support")

    assert calls(api_as(support), purchase) == {"redeem": 403, "refund": 403, "debug": 200}
    assert unchanged(purchase)


def test_a_superuser_can_do_everything():
    purchase = paid_purchase()
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    # Redeemed first, so the refund must be told to go ahead with a used code.
    client = api_as(root)
    assert client.post(f"/api/tickets/codes/{purchase.codes.get().code}/redeem/").status_code == 200
    refund = client.post(
        f"/api/tickets/purchase/{purchase.pk}/refund/", {"allow_used": True}, format="json"
    )
    assert refund.status_code == 200 and refund.json()["status"] == "refunded"
    assert client.get("/api/tickets/purchases/debug/").status_code == 200


def test_the_migration_makes_the_two_groups_from_these_permissions():
    def codenames(group: str) -> set[str]:
        return set(Group.objects.get(name=group).permissions.values_list("codename", flat=True))

    assert codenames("Door staff") == {"redeem_ticketcode"}
    support = codenames("Support")
    assert {"view_ticketpurchase", "view_ticket", "view_purchase_debug"} <= support
    assert {"resend_tickets", "rerun_processing"} <= support
    assert not support & {"refund_ticketpurchase", "redeem_ticketcode"}
    assert not any(name.startswith(("add_", "change_", "delete_")) for name in support)
    door_perm = Permission.objects.get(codename="redeem_ticketcode")
    assert door_perm.name == "Can check in ticket codes at the door"


# --- Admin actions -----------------------------------------------------------------


def offered_actions(client) -> set[str]:
    page = client.get(CHANGELIST).content.decode()
    return {action for action in ACTIONS if f'value="{action}"' in page}


def admin_as(client, user):
    client.force_login(user)
    return client


def with_perms(user, *codenames: str):
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def test_a_staff_user_without_permissions_has_no_admin_at_all(client):
    admin_as(client, UserFactory(username="clerk", is_staff=True))
    assert client.get(CHANGELIST).status_code == 403


def test_admin_actions_are_absent_without_their_permission(client):
    purchase = paid_purchase()
    viewer = with_perms(UserFactory(username="viewer", is_staff=True), "view_ticketpurchase")
    admin_as(client, viewer)
    assert client.get(CHANGELIST).status_code == 200
    assert offered_actions(client) == set()

    # A forged post of the action runs nothing either.
    client.post(CHANGELIST, {"action": "mark_refunded", "_selected_action": [str(purchase.pk)]})
    assert unchanged(purchase)


def test_each_admin_action_needs_its_own_permission(client):
    paid_purchase()  # the admin offers actions only when there is something to act on
    refunder = with_perms(
        UserFactory(username="manager", is_staff=True),
        "view_ticketpurchase",
        "refund_ticketpurchase",
    )
    assert offered_actions(admin_as(client, refunder)) == {"mark_refunded"}
    support = in_group("Support", username="support")
    assert offered_actions(admin_as(client, support)) == {"rerun_processing", "resend_tickets"}
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    assert offered_actions(admin_as(client, root)) == set(ACTIONS)


def test_support_resends_tickets_from_the_admin(client, mailoutbox):
    purchase = paid_purchase()
    admin_as(client, in_group("Support", username="support"))
    client.post(CHANGELIST, {"action": "resend_tickets", "_selected_action": [str(purchase.pk)]})
    assert len(mailoutbox) == 1 and purchase.codes.get().code in mailoutbox[0].body


def test_the_refund_action_runs_for_whoever_holds_the_permission(client):
    purchase = paid_purchase()
    manager = with_perms(
        UserFactory(username="manager", is_staff=True),
        "view_ticketpurchase",
        "refund_ticketpurchase",
    )
    admin_as(client, manager)
    client.post(CHANGELIST, {"action": "mark_refunded", "_selected_action": [str(purchase.pk)]})
    purchase.refresh_from_db()
    assert purchase.status == TicketPurchase.Status.REFUNDED
