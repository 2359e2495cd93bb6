"""A card holder's dispute, from Stripe's signed events, with Stripe played by
recorded responses: opened, the purchase's unused codes are void and a scan
says why (410); won, they are valid again while the event is ahead; lost, they
stay void. The worker retrieves the dispute: the event's body is not trusted,
so a late or repeated event changes nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from gateways.models import StripeCharge
from tests.factories import PurchaseFactory, TicketFactory, UserFactory
from tests.gateways import stripe_fakes as fake
from tests.gateways.stripe_fakes import DISPUTE_ID, INTENT_ID
from tests.gateways.test_stripe_webhooks import process_all, send
from tickets.codes import codes_issue
from tickets.door.redemption import CodeVoid, code_redeem
from tickets.models import PurchaseEvent, TicketCode, TicketPurchase

pytestmark = pytest.mark.django_db

RETRIEVE = ("GET", f"/v1/disputes/{DISPUTE_ID}")


def paid_through_stripe(*, starts_in: timedelta = timedelta(days=7)) -> TicketPurchase:
    ticket = TicketFactory(starts_at=timezone.now() + starts_in)
    purchase = PurchaseFactory(
        ticket=ticket, quantity=3, status="completed", payment_status="completed"
    )
    codes_issue(purchase=purchase)
    StripeCharge.objects.create(key=str(purchase.pk), intent_id=INTENT_ID)
    return purchase


def stripe_says(http, *states: str) -> None:
    http.routes[RETRIEVE] = [fake.dispute(state) for state in states]


def dispute_event(event_type: str, status: str, n: int) -> dict:
    return fake.event(event_type, fake.dispute(status), event_id=f"evt_dispute_{n}")


def codes(purchase) -> list[str]:
    return list(
        TicketCode.objects.filter(purchase=purchase).order_by("id").values_list("status", flat=True)
    )


def test_a_dispute_voids_the_codes_and_a_scan_says_why(api_client, stripe_http):
    purchase = paid_through_stripe()
    used = purchase.codes.first()
    code_redeem(code=used.code, staff_user=UserFactory())  # one was scanned already
    stripe_says(stripe_http, "needs_response")

    assert (
        send(api_client, dispute_event("charge.dispute.created", "needs_response", 1)).status_code
        == 202
    )
    assert process_all() == ["ticket purchase completed, dispute open"]

    assert codes(purchase) == ["used", "void", "void"]
    with pytest.raises(CodeVoid) as refused:
        code_redeem(code=purchase.codes.order_by("id").last().code, staff_user=UserFactory())
    assert "disputed" in str(refused.value.detail)
    purchase.refresh_from_db()
    assert (purchase.dispute, purchase.dispute_reason) == ("open", "fraudulent")
    trail = PurchaseEvent.objects.filter(purchase=purchase, action="dispute opened").get()
    assert trail.note == "fraudulent; 2 code(s) void"


def test_a_dispute_won_before_the_event_restores_the_codes(api_client, stripe_http):
    purchase = paid_through_stripe()
    stripe_says(stripe_http, "needs_response", "won")
    send(api_client, dispute_event("charge.dispute.created", "needs_response", 1))
    process_all()
    send(api_client, dispute_event("charge.dispute.closed", "won", 2))

    assert process_all() == ["ticket purchase completed, dispute won"]
    assert codes(purchase) == ["valid"] * 3


def test_a_dispute_won_after_the_event_began_leaves_the_codes_void(api_client, stripe_http):
    purchase = paid_through_stripe()
    stripe_says(stripe_http, "needs_response", "won")
    send(api_client, dispute_event("charge.dispute.created", "needs_response", 1))
    process_all()
    purchase.ticket.__class__.objects.filter(pk=purchase.ticket_id).update(
        starts_at=timezone.now() - timedelta(hours=1)
    )
    send(api_client, dispute_event("charge.dispute.closed", "won", 2))
    process_all()

    purchase.refresh_from_db()
    assert purchase.dispute == "won"
    assert codes(purchase) == ["void"] * 3


def test_a_dispute_lost_keeps_the_codes_void(api_client, stripe_http):
    purchase = paid_through_stripe()
    stripe_says(stripe_http, "needs_response", "lost")
    send(api_client, dispute_event("charge.dispute.created", "needs_response", 1))
    process_all()
    send(api_client, dispute_event("charge.dispute.closed", "lost", 2))

    assert process_all() == ["ticket purchase completed, dispute lost"]
    assert codes(purchase) == ["void"] * 3


def test_the_retrieved_dispute_decides_not_the_event_body(api_client, stripe_http):
    """A late "created" event after the dispute was won: Stripe says won, so
    the codes are not voided again; a repeated event is not processed twice."""
    purchase = paid_through_stripe()
    stripe_says(stripe_http, "needs_response", "won")
    send(api_client, dispute_event("charge.dispute.created", "needs_response", 1))
    process_all()
    send(api_client, dispute_event("charge.dispute.closed", "won", 2))
    process_all()
    late = dispute_event("charge.dispute.updated", "needs_response", 3)
    send(api_client, late)
    duplicate = send(api_client, late)

    assert duplicate.status_code == 200
    assert process_all() == ["ticket purchase completed, dispute won"]
    assert codes(purchase) == ["valid"] * 3
    assert PurchaseEvent.objects.filter(purchase=purchase, action="dispute opened").count() == 1
