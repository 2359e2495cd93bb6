"""The operator's live sale view: the numbers (tickets/console/live_sale.py) for a known
mix of purchases, the admin page and its JSON feed (tickets/console/admin.py), and
who may see them."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.utils import timezone

from tests.factories import PurchaseFactory, TicketFactory, UserFactory
from tickets import selectors
from tickets.console.live_sale import BUCKET_SECONDS, BUCKETS, live_sale
from tickets.models import TicketPurchase
from tickets.sale import waiting_room

pytestmark = pytest.mark.django_db

Status = TicketPurchase.Status
PaymentStatus = TicketPurchase.PaymentStatus
NOW = datetime(2030, 1, 1, 12, 0, 5, tzinfo=UTC)
# The newest bucket starts at 12:00:00; the oldest 29 buckets earlier.
FIRST_BUCKET = datetime(2030, 1, 1, 11, 55, 10, tzinfo=UTC)


def live_url(ticket_id: int) -> str:
    return f"/admin/tickets/ticket/{ticket_id}/live/"


def feed_url(ticket_id: int) -> str:
    return f"/admin/tickets/ticket/{ticket_id}/live.json"


def purchase(ticket, *, created_at: datetime, **fields) -> TicketPurchase:
    made = PurchaseFactory(ticket=ticket, **fields)
    # created_at is stamped on insert: move it where the test needs it.
    TicketPurchase.objects.filter(pk=made.pk).update(created_at=created_at)
    return made


def staff(username: str = "operator", *codenames: str):
    user = UserFactory(username=username, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def mix():
    """A ticket of 100 seats: 7 sold, 1 held, and purchases that hold none."""
    ticket = TicketFactory(total_quantity=100, available_quantity=92)
    at = NOW.replace
    sold = [
        purchase(ticket, created_at=at(hour=11, minute=59, second=51), quantity=2,
                 status=Status.CONFIRMED, payment_status=PaymentStatus.COMPLETED,
                 inventory_reserved=True, confirmed_at=at(hour=11, minute=59, second=55)),
        purchase(ticket, created_at=at(hour=11, minute=59, second=59), quantity=2,
                 status=Status.CONFIRMED, payment_status=PaymentStatus.COMPLETED,
                 inventory_reserved=True, confirmed_at=at(second=1)),
        purchase(ticket, created_at=at(second=3), quantity=3,
                 status=Status.COMPLETED, payment_status=PaymentStatus.COMPLETED,
                 inventory_reserved=True, confirmed_at=at(hour=11, minute=50)),
    ]  # fmt: skip
    paying = purchase(
        ticket, created_at=at(hour=11, minute=55, second=10), quantity=1,
        status=Status.PENDING, payment_status=PaymentStatus.PROCESSING, inventory_reserved=True,
        processing_started_at=NOW - timedelta(minutes=11),
        payment_started_at=NOW - timedelta(minutes=11),
    )  # fmt: skip
    waiting = purchase(ticket, created_at=at(hour=11, minute=55, second=9), quantity=2)
    purchase(ticket, created_at=at(second=6), quantity=1)  # after NOW: not yet
    purchase(ticket, created_at=at(hour=11, minute=40), quantity=1, status=Status.FAILED)
    purchase(ticket, created_at=at(hour=11, minute=40), quantity=2, status=Status.REFUNDED)
    other = TicketFactory()
    purchase(other, created_at=at(second=2), status=Status.CONFIRMED, confirmed_at=at(second=2))
    return {"ticket": ticket, "sold": sold, "paying": paying, "waiting": waiting}


def test_the_numbers_of_a_known_mix_of_purchases(mix, django_assert_max_num_queries, monkeypatch):
    ticket = mix["ticket"]
    asked = []
    # The queue's counters are tickets/sale/waiting_room.py's (tested there): 3 waiting, 12.5/s.
    monkeypatch.setattr(
        waiting_room, "queue_depth", lambda ticket_id: asked.append(ticket_id) or (3, 12.5)
    )

    # ticket, seats, waiting list, states, two kinds of stuck, two chart series: never
    # one per purchase
    with django_assert_max_num_queries(8):
        sale = live_sale(ticket_id=ticket.pk, now=NOW)

    assert sale["seats"] == {
        "sold": 7,
        "held": 1,
        "offered": 0,
        "kept": 0,
        "free": 92,
        "total": 100,
    }
    assert sale["by_status"] == {
        "pending": 3, "confirmed": 2, "completed": 1, "failed": 1,
        "expired": 0, "cancelled": 0, "refunded": 1,
    }  # fmt: skip
    assert sale["queue"] == {"depth": 3, "drain_rate": 12.5}
    assert asked == [ticket.pk]
    assert sale["stuck"]["never_started"]["count"] == 1  # `waiting`
    assert sale["stuck"]["payment_processing"]["count"] == 1  # `paying`


def test_accepts_and_confirmations_per_bucket(mix):
    chart = live_sale(ticket_id=mix["ticket"].pk, now=NOW)["chart"]

    buckets = chart["buckets"]
    assert chart["bucket_seconds"] == BUCKET_SECONDS == 10
    assert len(buckets) == BUCKETS == 30
    assert [bucket["start"] for bucket in buckets] == [
        FIRST_BUCKET + timedelta(seconds=10 * index) for index in range(30)
    ]
    # The newest bucket (from 12:00:00) has been filling for 5 seconds.
    assert [bucket["seconds"] for bucket in buckets] == [10] * 29 + [5]
    accepted = {
        index: bucket["accepted"] for index, bucket in enumerate(buckets) if bucket["accepted"]
    }
    confirmed = {
        index: bucket["confirmed"] for index, bucket in enumerate(buckets) if bucket["confirmed"]
    }
    # 11:55:10 (the first second in the window), 11:59:51 and :59, 12:00:03; not
    # 11:55:09, not 12:00:06 (after now), not the other ticket's.
    assert accepted == {0: 1, 28: 2, 29: 1}
    assert confirmed == {28: 1, 29: 1}  # 11:59:55 and 12:00:01; not 11:50
    # The last minute is the 6 newest buckets: 55 seconds so far.
    assert chart["last_minute"] == {"accepted": round(3 / 55, 2), "confirmed": round(2 / 55, 2)}


def test_an_empty_sale():
    ticket = TicketFactory(total_quantity=40)
    sale = live_sale(ticket_id=ticket.pk)
    assert sale["seats"] == {"sold": 0, "held": 0, "offered": 0, "kept": 0, "free": 40, "total": 40}
    assert sale["waiting_list"] == {"waiting": 0, "seats_wanted": 0, "offers": 0, "paused": False}
    assert set(sale["by_status"].values()) == {0}
    assert sale["queue"] == {"depth": 0, "drain_rate": 0.0}
    assert sum(bucket["accepted"] + bucket["confirmed"] for bucket in sale["chart"]["buckets"]) == 0


# --- The admin page and its feed ----------------------------------------------------


@pytest.fixture
def operator(client):
    client.force_login(staff("operator", "view_live_sale"))
    return client


def test_the_feed_answers_the_numbers_as_json(operator):
    ticket = TicketFactory(total_quantity=10, available_quantity=8)
    PurchaseFactory(ticket=ticket, status=Status.CONFIRMED, inventory_reserved=True,
                    confirmed_at=timezone.now())  # fmt: skip

    response = operator.get(feed_url(ticket.pk))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert set(body) == {
        "ticket", "generated_at", "seats", "waiting_list", "by_status", "queue", "chart", "stuck",
    }  # fmt: skip
    assert body["ticket"] == {"id": ticket.pk, "name": ticket.name, "on_sale": True}
    assert datetime.fromisoformat(body["generated_at"]) <= timezone.now()
    assert body["seats"] == {"sold": 2, "held": 0, "offered": 0, "kept": 0, "free": 8, "total": 10}
    assert body["waiting_list"] == {
        "waiting": 0, "seats_wanted": 0, "offers": 0, "paused": False,
        "url": None,  # this operator may not open the waiting list
    }  # fmt: skip
    assert body["by_status"] == {status: int(status == "confirmed") for status in Status.values}
    assert body["queue"] == {"depth": 0, "drain_rate": 0.0}
    chart = body["chart"]
    assert (chart["bucket_seconds"], chart["window_seconds"]) == (10, 300)
    assert set(chart["last_minute"]) == {"accepted", "confirmed"}
    assert len(chart["buckets"]) == 30
    assert set(chart["buckets"][0]) == {"start", "seconds", "accepted", "confirmed"}
    assert chart["buckets"][-1]["accepted"] == chart["buckets"][-1]["confirmed"] == 1
    assert set(body["stuck"]) == {"never_started", "payment_processing"}
    for stuck in body["stuck"].values():
        assert set(stuck) == {"count", "label", "url"}
        assert stuck["count"] == 0
        assert stuck["url"] is None  # this operator may not open the purchases' list


def test_the_page_shows_the_numbers_and_the_chart(operator):
    ticket = TicketFactory(name="Night Tour", total_quantity=10, available_quantity=7)
    PurchaseFactory(ticket=ticket, quantity=3, status=Status.PENDING, inventory_reserved=True)

    response = operator.get(live_url(ticket.pk))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Live sale: Night Tour" in page
    assert '<dd data-live="seats.held">3</dd>' in page
    assert '<dd data-live="seats.free">7</dd>' in page
    assert '<svg id="live-chart"' in page
    assert 'id="live-sale-data"' in page  # the first drawing needs no round trip
    assert f'data-feed-url="{feed_url(ticket.pk)}"' in page
    assert "tickets/admin/live.js" in page


def test_the_stuck_links_list_exactly_the_stuck_purchases(client):
    client.force_login(UserFactory(username="admin", is_staff=True, is_superuser=True))
    ticket = TicketFactory()
    now = timezone.now()
    never_started = purchase(ticket, created_at=now - timedelta(minutes=5))
    paying = purchase(
        ticket, created_at=now - timedelta(minutes=20), inventory_reserved=True,
        payment_status=PaymentStatus.PROCESSING, processing_started_at=now - timedelta(minutes=20),
        payment_started_at=now - timedelta(minutes=settings.STUCK_PAYMENT_MINUTES + 1),
    )  # fmt: skip
    fine = [
        purchase(ticket, created_at=now),  # just accepted
        purchase(ticket, created_at=now - timedelta(minutes=5), status=Status.FAILED),
        purchase(
            ticket, created_at=now - timedelta(minutes=5), inventory_reserved=True,
            payment_status=PaymentStatus.PROCESSING, processing_started_at=now,
            payment_started_at=now,
        ),
        purchase(TicketFactory(), created_at=now - timedelta(minutes=20)),  # another ticket
    ]  # fmt: skip
    # The sweeps' and the debug listing's own definitions agree with the links.
    of_ticket = {"ticket_id": ticket.pk}
    assert set(
        selectors.purchases_unstarted(older_than_seconds=settings.REQUEUE_AFTER_SECONDS)
        .filter(**of_ticket)
        .values_list("pk", flat=True)
    ) == {never_started.pk}
    assert set(
        selectors.purchases_stuck_in_payment(older_than_minutes=settings.STUCK_PAYMENT_MINUTES)
        .filter(**of_ticket)
        .values_list("pk", flat=True)
    ) == {paying.pk}

    stuck = client.get(feed_url(ticket.pk)).json()["stuck"]

    for kind, expected in (("never_started", never_started), ("payment_processing", paying)):
        assert stuck[kind]["count"] == 1
        listing = client.get(stuck[kind]["url"])
        assert listing.status_code == 200, kind
        assert listing.context["cl"].result_count == 1, kind
        listed = listing.content.decode()
        assert str(expected.pk) in listed
        assert not any(str(other.pk) in listed for other in [*fine, never_started, paying]
                       if other != expected)  # fmt: skip
    page = client.get(live_url(ticket.pk)).content.decode()
    assert 'id="live-stuck-never_started"' in page


# --- Who may see it -----------------------------------------------------------------


@pytest.mark.parametrize("url", [live_url, feed_url])
def test_anonymous_is_sent_to_the_admin_login(client, url):
    ticket = TicketFactory()
    response = client.get(url(ticket.pk))
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


@pytest.mark.parametrize("url", [live_url, feed_url])
def test_staff_without_the_permission_is_refused(client, url):
    ticket = TicketFactory()
    client.force_login(staff("clerk", "view_ticket", "view_ticketpurchase", "view_purchase_debug"))
    assert client.get(url(ticket.pk)).status_code == 403


def test_the_permission_without_staff_status_is_not_enough(client):
    user = UserFactory(username="buyer")
    user.user_permissions.add(Permission.objects.get(codename="view_live_sale"))
    client.force_login(user)
    response = client.get(live_url(TicketFactory().pk))
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_support_may_watch_a_sale(client):
    support = UserFactory(username="support", is_staff=True)
    support.groups.add(Group.objects.get(name="Support"))
    client.force_login(support)
    assert client.get(live_url(TicketFactory().pk)).status_code == 200


def test_an_unknown_ticket_is_404(operator):
    assert operator.get(live_url(999_999)).status_code == 404
    assert operator.get(feed_url(999_999)).status_code == 404


def test_the_ticket_pages_link_to_the_live_view_for_those_who_may_see_it(client):
    ticket = TicketFactory()
    link = f'href="{live_url(ticket.pk)}"'
    change = f"/admin/tickets/ticket/{ticket.pk}/change/"
    client.force_login(staff("watcher", "view_ticket", "view_live_sale"))
    assert link in client.get("/admin/tickets/ticket/").content.decode()
    assert link in client.get(change).content.decode()

    client.force_login(staff("reader", "view_ticket"))
    assert link not in client.get("/admin/tickets/ticket/").content.decode()
    assert link not in client.get(change).content.decode()
