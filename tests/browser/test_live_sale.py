"""The operator's live sale view in a real browser: staff with the permission log
in through the admin's form and see the chart drawn and the numbers refreshed
while the page stays open; staff without it are refused."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from tests.browser.conftest import screenshot
from tests.factories import PurchaseFactory, TicketFactory, UserFactory
from tickets.models import Ticket, TicketPurchase

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

PASSWORD = "a long and unguessable operator password"
Status = TicketPurchase.Status
PaymentStatus = TicketPurchase.PaymentStatus


def staff(username: str, *codenames: str):
    user = UserFactory(username=username, is_staff=True, password=PASSWORD)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def log_in(page, web, user, next_path: str):
    page.goto(f"{web.url}/admin/login/?next={next_path}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()


def live_path(ticket) -> str:
    return f"/admin/tickets/ticket/{ticket.pk}/live/"


def a_sale_under_way(total: int = 500) -> Ticket:
    """A sale some minutes old: purchases accepted over the last four minutes,
    most confirmed a moment later, a few holding seats, one declined."""
    ticket = TicketFactory(name="Traditional Dance Performance", total_quantity=total)
    now = timezone.now()
    sold = held = 0
    for second in range(240, 0, -4):
        created = now - timedelta(seconds=second)
        # A burst two minutes ago, as when a sale opens.
        for _ in range(3 if 100 < second < 150 else 1):
            if second % 40 == 0:
                fields = {"status": Status.FAILED, "failure_reason": "payment_declined"}
            elif second < 12:
                fields = {"status": Status.PENDING, "inventory_reserved": True}
                held += 2
            else:
                fields = {
                    "status": Status.CONFIRMED,
                    "payment_status": PaymentStatus.COMPLETED,
                    "inventory_reserved": True,
                    "confirmed_at": created + timedelta(seconds=1),
                }
                sold += 2
            made = PurchaseFactory(ticket=ticket, quantity=2, **fields)
            TicketPurchase.objects.filter(pk=made.pk).update(created_at=created)
    ticket.available_quantity = total - sold - held
    ticket.save(update_fields=["available_quantity"])
    return ticket


def test_the_operator_sees_the_chart_and_numbers_that_refresh(page, web):
    ticket = a_sale_under_way()
    operator = staff("operator", "view_live_sale", "view_ticket", "view_ticketpurchase")

    log_in(page, web, operator, live_path(ticket))

    expect(page.get_by_role("heading", name=f"Live sale: {ticket.name}")).to_be_visible()
    chart = page.locator("svg#live-chart")
    expect(chart).to_be_visible()
    bars = chart.locator("rect.live-bar")
    expect(bars).to_have_count(30)
    heights = [float(bars.nth(index).get_attribute("height")) for index in range(30)]
    assert sum(height > 0 for height in heights) >= 20, heights
    points = chart.locator("polyline.live-line").get_attribute("points").split()
    assert len(points) == 30
    assert len({point.split(",")[1] for point in points}) > 1, "the line is flat"

    pending = page.locator('[data-live="by_status.pending"]')
    before = int(pending.inner_text())
    PurchaseFactory(ticket=ticket)  # a new purchase while the page is open

    expect(pending).to_have_text(str(before + 1), timeout=10_000)
    expect(page.locator("[data-live-problem]")).to_have_text("")
    screenshot(page, "operator-live-sale")


def test_staff_without_the_permission_is_refused(page, web):
    ticket = TicketFactory()
    clerk = staff("clerk", "view_ticket", "view_ticketpurchase")

    log_in(page, web, clerk, live_path(ticket))

    response = page.goto(f"{web.url}{live_path(ticket)}")
    assert response.status == 403
    assert page.locator("svg#live-chart").count() == 0
    feed = page.request.get(f"{web.url}/admin/tickets/ticket/{ticket.pk}/live.json")
    assert feed.status == 403


def test_anonymous_visitors_are_sent_to_the_login_page(page, web):
    ticket = TicketFactory()
    page.goto(f"{web.url}{live_path(ticket)}")
    assert "/admin/login/" in page.url
    expect(page.locator("svg#live-chart")).to_have_count(0)
