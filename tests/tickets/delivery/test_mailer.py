"""Confirmation e-mails in batches (tickets/delivery/mailer.py): one doorbell for many
confirmations, one mail per purchase over one connection, completed in bulk,
a constant number of queries per batch, and nothing lost to a mail failure."""

import email
import logging
import smtplib
import threading
from contextlib import contextmanager
from datetime import timedelta
from email.policy import default as default_policy

import png
import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from devtools.embedded_redis import free_port
from project.actor import acting_as
from project.redis_client import redis_client
from tests.factories import PurchaseFactory, TicketFactory
from tests.scanning import decode_qr
from tickets.codes import codes_issue_many
from tickets.delivery import mailer
from tickets.delivery.qr import EMAIL_ZOOM
from tickets.models import PurchaseEvent, TicketPurchase
from workers import delivery_tasks
from workers.celery import app
from workers.queues import DELIVERY_QUEUE

Status = TicketPurchase.Status


def confirmed_purchases(count: int, *, quantity=lambda i: 1 + i % 3) -> list[TicketPurchase]:
    """Purchases as the confirmation leaves them: paid, with their codes."""
    ticket = TicketFactory(name="Sunset Dhow Cruise", total_quantity=1000)
    now = timezone.now()
    purchases = [
        PurchaseFactory(
            ticket=ticket,
            quantity=quantity(i),
            status=Status.CONFIRMED,
            payment_status=TicketPurchase.PaymentStatus.COMPLETED,
            inventory_reserved=True,
            gateway_reference=f"sim_{i}",
            confirmed_at=now,
        )
        for i in range(count)
    ]
    codes_issue_many(purchases)
    return purchases


def parsed(message) -> email.message.EmailMessage:
    return email.message_from_bytes(message.message().as_bytes(), policy=default_policy)


def assert_mail_carries(message, purchase: TicketPurchase) -> None:
    codes = list(purchase.codes.values_list("code", flat=True))
    assert message.to == [purchase.customer_email]
    assert message.subject == "Your tickets for Sunset Dhow Cruise"
    parts = parsed(message)
    html = parts.get_body(preferencelist=("html",)).get_content()
    plain = parts.get_body(preferencelist=("plain",)).get_content()
    images = [part for part in parts.walk() if part.get_content_type() == "image/png"]
    assert len(images) == len(codes)
    decoded = []
    for image in images:
        cid = image["Content-ID"].strip("<>")
        data = image.get_content()
        width, height, _, _ = png.Reader(bytes=data).read()
        assert width == height < 100  # a small image...
        shown = width * EMAIL_ZOOM  # ...shown large
        assert f'src="cid:{cid}" width="{shown}" height="{shown}"' in html
        decoded += decode_qr(data)
    assert sorted(decoded) == sorted(codes)
    for code in codes:
        assert code in plain and code in html


# --- One batch ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_batch_of_confirmed_purchases_ends_completed_with_one_mail_each(mailoutbox):
    purchases = confirmed_purchases(5)

    with acting_as("task tickets.deliver_batch"):
        assert mailer.deliver_batch() == 5

    assert len(mailoutbox) == 5
    by_address = {message.to[0]: message for message in mailoutbox}
    for purchase in purchases:
        purchase.refresh_from_db()
        assert purchase.status == Status.COMPLETED
        assert purchase.completed_at is not None
        assert_mail_carries(by_address[purchase.customer_email], purchase)
        [event] = PurchaseEvent.objects.filter(purchase=purchase, action="delivered")
        assert (event.from_status, event.to_status) == (Status.CONFIRMED, Status.COMPLETED)
        assert (event.note, event.actor) == ("e-mail sent", "task tickets.deliver_batch")
        assert event.gateway_reference == purchase.gateway_reference


@pytest.mark.django_db
def test_confirmations_settled_while_the_mailer_lingers_ring_nothing_and_go_out_together(
    mailoutbox, settings, monkeypatch, published
):
    """The doorbell is answered after DELIVERY_LINGER_MS: a batch settled
    meanwhile finds it still rung, so one task mails both batches."""
    settings.DELIVERY_LINGER_MS = 100
    confirmed_purchases(2)
    assert mailer.delivery_ring() is True  # as the first settling rang
    later = []

    def linger(seconds):
        assert seconds == 0.1
        later.extend(confirmed_purchases(3))
        assert mailer.delivery_ring() is False  # still rung: no second task

    monkeypatch.setattr(mailer.time, "sleep", linger)
    assert mailer.deliver_batch() == 5
    assert len(mailoutbox) == 5
    assert mailer.delivery_ring() is True  # answered: the next settling rings


@pytest.mark.django_db
def test_only_confirmed_purchases_are_mailed_and_a_second_run_sends_nothing(mailoutbox):
    [confirmed] = confirmed_purchases(1)
    PurchaseFactory(ticket=confirmed.ticket)  # pending
    PurchaseFactory(ticket=confirmed.ticket, status=Status.COMPLETED)

    assert mailer.deliver_batch() == 1
    assert mailer.deliver_batch() == 0
    assert [message.to for message in mailoutbox] == [[confirmed.customer_email]]


@pytest.mark.django_db
def test_batches_follow_each_other_until_one_comes_up_short(mailoutbox):
    confirmed_purchases(7, quantity=lambda i: 1)

    assert mailer.deliver_batch(batch_size=3) == 7

    assert len(mailoutbox) == 7
    assert not TicketPurchase.objects.filter(status=Status.CONFIRMED).exists()


class CountingBackend(LocmemBackend):
    """Counts the connections opened."""

    opened: list = []

    def open(self):
        CountingBackend.opened.append(self)
        return super().open()


@pytest.mark.django_db
def test_the_batch_goes_over_one_mail_connection(settings, mailoutbox):
    CountingBackend.opened = []
    settings.EMAIL_BACKEND = f"{__name__}.CountingBackend"
    confirmed_purchases(6)

    mailer.deliver_batch()

    assert len(mailoutbox) == 6
    assert len(CountingBackend.opened) == 1


def _queries_for(count: int) -> int:
    confirmed_purchases(count)
    with CaptureQueriesContext(connection) as queries:
        assert mailer.deliver_batch(batch_size=50) == count
    return len(queries)


@pytest.mark.django_db
def test_the_queries_of_a_batch_do_not_grow_with_it(mailoutbox, django_assert_max_num_queries):
    small = _queries_for(2)
    large = _queries_for(20)
    assert large == small

    confirmed_purchases(20)
    with django_assert_max_num_queries(12):
        assert mailer.deliver_batch(batch_size=50) == 20


# --- Claims ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_delivered_batch_keeps_no_claim_that_would_hold_back_other_sweeps(mailoutbox):
    sent, taken_meanwhile = confirmed_purchases(2)
    claimed_at, claimed = mailer._claim(10)
    # The admin resends one by hand while the mailer is sending the batch.
    TicketPurchase.objects.filter(pk=taken_meanwhile.pk).update(status=Status.COMPLETED)

    assert mailer._complete(claimed, claimed_at=claimed_at) == 1

    stamps = TicketPurchase.objects.filter(pk__in=[sent.pk, taken_meanwhile.pk])
    assert set(stamps.values_list("status", "sweep_claimed_at")) == {(Status.COMPLETED, None)}


@pytest.mark.django_db
def test_a_purchase_claimed_by_one_mailer_is_not_taken_by_another(mailoutbox):
    confirmed_purchases(3)

    _, first = mailer._claim(10)
    _, second = mailer._claim(10)

    assert len(first) == 3 and second == []
    assert mailer.deliver_batch() == 0  # the first mailer is still sending them
    assert not mailoutbox


@pytest.mark.django_db
def test_a_dead_mailers_claim_lapses_and_its_batch_is_sent_again(settings, mailoutbox):
    [purchase] = confirmed_purchases(1)
    mailer._claim(10)  # ...and the mailer died before sending
    stale = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 1)
    TicketPurchase.objects.filter(pk=purchase.pk).update(sweep_claimed_at=stale)

    assert mailer.deliver_batch() == 1
    assert len(mailoutbox) == 1


@pytest.mark.django_db
def test_a_restored_run_sends_what_its_dead_predecessor_claimed_not_a_live_mailers(mailoutbox):
    dead_mailers, live_mailers = confirmed_purchases(2, quantity=lambda i: 1)
    TicketPurchase.objects.filter(pk=live_mailers.pk).update(status=Status.PENDING)
    dead_at, _ = mailer._claim(10)  # the run "task-1" claimed it, then its worker died
    mailer._remember_claim("task-1", dead_at)
    TicketPurchase.objects.filter(pk=live_mailers.pk).update(status=Status.CONFIRMED)
    mailer._claim(10)  # another mailer, alive, is sending this one

    assert mailer.deliver_batch(run_id="task-1", resume=True) == 1

    assert [message.to for message in mailoutbox] == [[dead_mailers.customer_email]]
    live_mailers.refresh_from_db()
    assert live_mailers.status == Status.CONFIRMED and live_mailers.sweep_claimed_at


@pytest.mark.django_db
def test_a_run_that_ends_forgets_its_claims(mailoutbox):
    confirmed_purchases(1)

    assert mailer.deliver_batch(run_id="task-2") == 1

    assert not redis_client().exists(mailer._run_claims_key("task-2"))


@pytest.mark.django_db
def test_a_sweeps_stamp_from_before_the_confirmation_does_not_hold_the_mail_back(mailoutbox):
    [purchase] = confirmed_purchases(1)
    before = purchase.confirmed_at - timedelta(seconds=1)  # a sweep took it while pending
    TicketPurchase.objects.filter(pk=purchase.pk).update(sweep_claimed_at=before)

    assert mailer.deliver_batch() == 1


@contextmanager
def held_elsewhere(purchase: TicketPurchase):
    """Another transaction holds the purchase's row (a second mailer, a
    settling batch) while the body runs."""
    holding, release = threading.Event(), threading.Event()

    def other_transaction() -> None:
        try:
            with transaction.atomic():
                TicketPurchase.objects.select_for_update().get(pk=purchase.pk)
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_transaction)
    thread.start()
    try:
        assert holding.wait(10)
        yield
    finally:
        release.set()
        thread.join()


def needs_skip_locked() -> None:
    if not connection.features.has_select_for_update_skip_locked:
        pytest.skip("SQLite serialises writers; SKIP LOCKED needs PostgreSQL")


@pytest.mark.django_db(transaction=True)
def test_a_purchase_locked_by_a_concurrent_claim_is_skipped(mailoutbox):
    needs_skip_locked()
    locked, free = confirmed_purchases(2, quantity=lambda i: 1)

    with held_elsewhere(locked):
        _, claimed = mailer._claim(10)

    assert [purchase.pk for purchase in claimed] == [free.pk]


@pytest.mark.django_db(transaction=True)
def test_a_purchase_passed_over_while_locked_is_looked_at_again_shortly(published, mailoutbox):
    needs_skip_locked()
    locked, free = confirmed_purchases(2, quantity=lambda i: 1)

    with held_elsewhere(locked):
        assert mailer.deliver_batch() == 1

    assert [message.to for message in mailoutbox] == [[free.customer_email]]
    assert published.ids(mailer.DELIVER_BATCH_TASK) == [mailer.LOOK_AGAIN_KEY]
    assert published.delays == [mailer.LOOK_AGAIN_SECONDS]
    # The look again does not silence the mailer's own doorbell meanwhile.
    assert mailer.delivery_ring()
    assert mailer.deliver_batch(doorbell=mailer.LOOK_AGAIN_KEY) == 1  # it sends it
    assert published.delays == [mailer.LOOK_AGAIN_SECONDS, None]  # nothing left: no more


@pytest.mark.django_db
def test_a_mailer_that_took_everything_does_not_ring_again(published, mailoutbox):
    confirmed_purchases(3)

    assert mailer.deliver_batch() == 3

    assert published == []


# --- Failures ----------------------------------------------------------------------


class FailingAfter(LocmemBackend):
    """Sends `ok` messages, then the connection drops."""

    ok = 0

    def send_messages(self, messages):
        if len(mail.outbox) >= self.ok:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return super().send_messages(messages)


class RefusingOne(LocmemBackend):
    """Refuses one recipient for good, as a mail server does for a bad address."""

    address = ""

    def send_messages(self, messages):
        if messages[0].to == [self.address]:
            raise smtplib.SMTPRecipientsRefused({self.address: (550, b"5.1.1 No such user")})
        return super().send_messages(messages)


@pytest.mark.django_db
def test_an_unreachable_mail_server_leaves_them_confirmed_and_a_later_run_delivers(
    settings, mailoutbox, caplog
):
    purchases = confirmed_purchases(3)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()

    with caplog.at_level(logging.WARNING, logger="tickets.delivery.mailer"), pytest.raises(OSError):
        mailer.deliver_batch()

    for purchase in purchases:
        assert str(purchase.pk) in caplog.text
        purchase.refresh_from_db()
        assert purchase.status == Status.CONFIRMED
        assert purchase.sweep_claimed_at is None  # free for the retry at once

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert mailer.deliver_batch() == 3
    assert len(mailoutbox) == 3


@pytest.mark.django_db
def test_a_connection_lost_mid_batch_completes_what_went_and_releases_the_rest(
    settings, mailoutbox
):
    confirmed_purchases(5)
    FailingAfter.ok = 2
    settings.EMAIL_BACKEND = f"{__name__}.FailingAfter"

    with pytest.raises(smtplib.SMTPServerDisconnected):
        mailer.deliver_batch()

    sent = {message.to[0] for message in mailoutbox}
    completed = TicketPurchase.objects.filter(status=Status.COMPLETED)
    assert set(completed.values_list("customer_email", flat=True)) == sent and len(sent) == 2
    waiting = TicketPurchase.objects.filter(status=Status.CONFIRMED)
    assert waiting.count() == 3 and not waiting.filter(sweep_claimed_at__isnull=False).exists()

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert mailer.deliver_batch() == 3
    assert len(mailoutbox) == 5


@pytest.mark.django_db
def test_an_address_refused_for_good_does_not_hold_up_the_others(settings, mailoutbox, caplog):
    bad, *good = confirmed_purchases(4)
    RefusingOne.address = bad.customer_email
    settings.EMAIL_BACKEND = f"{__name__}.RefusingOne"

    with caplog.at_level(logging.ERROR, logger="tickets.delivery.mailer"):
        assert mailer.deliver_batch() == 3

    assert str(bad.pk) in caplog.text
    bad.refresh_from_db()
    assert bad.status == Status.CONFIRMED  # the undelivered sweep rings for it again
    assert {message.to[0] for message in mailoutbox} == {p.customer_email for p in good}


# --- The doorbell ------------------------------------------------------------------


@pytest.mark.django_db
def test_ringing_twice_publishes_once_until_the_mailer_answers(published, mailoutbox):
    assert mailer.delivery_ring() is True
    assert mailer.delivery_ring() is False
    assert published.ids(mailer.DELIVER_BATCH_TASK) == [mailer.DOORBELL_KEY]

    mailer.deliver_batch()  # answers the doorbell
    assert mailer.delivery_ring() is True
    assert len(published.ids(mailer.DELIVER_BATCH_TASK)) == 2


@pytest.mark.django_db
def test_a_burst_of_confirmations_rings_once_after_commit(
    published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        for _ in range(50):
            mailer.delivery_ring_on_commit()
        assert published == []
    assert published.ids(mailer.DELIVER_BATCH_TASK) == [mailer.DOORBELL_KEY]


@pytest.mark.django_db
def test_the_undelivered_sweep_rings_for_purchases_that_waited_too_long(settings, published):
    [purchase] = confirmed_purchases(1)
    assert mailer.delivery_ring_overdue() == 0
    assert published == []

    old = timezone.now() - timedelta(seconds=settings.REQUEUE_AFTER_SECONDS + 1)
    TicketPurchase.objects.filter(pk=purchase.pk).update(updated_at=old)
    assert mailer.delivery_ring_overdue() == 1
    assert published.ids(mailer.DELIVER_BATCH_TASK) == [mailer.DOORBELL_KEY]


# --- The task ----------------------------------------------------------------------


def test_the_batch_task_is_registered_and_routed_to_the_delivery_queue():
    app.loader.import_default_modules()
    assert mailer.DELIVER_BATCH_TASK in app.tasks
    route = app.amqp.router.route({}, mailer.DELIVER_BATCH_TASK)
    assert route["queue"].name == DELIVERY_QUEUE


@pytest.mark.django_db
def test_the_task_retries_a_failing_mail_server_then_leaves_the_purchases_confirmed(
    settings, caplog
):
    [purchase] = confirmed_purchases(1)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()

    with caplog.at_level(logging.WARNING):
        result = delivery_tasks.deliver_batch.apply(args=[mailer.DOORBELL_KEY])

    assert result.successful()  # a clean, logged end: the sweep takes over
    assert "deliver_batch gave up after 5 retries" in caplog.text
    assert str(purchase.pk) in caplog.text
    purchase.refresh_from_db()
    assert (purchase.status, purchase.sweep_claimed_at) == (Status.CONFIRMED, None)


@pytest.mark.django_db
def test_the_task_completes_the_batch(mailoutbox):
    confirmed_purchases(3)
    result = delivery_tasks.deliver_batch.apply(args=[mailer.DOORBELL_KEY])
    assert result.get() == 3
    assert len(mailoutbox) == 3


@pytest.mark.django_db
def test_a_message_that_cannot_be_built_does_not_hold_up_the_others(
    monkeypatch, mailoutbox, caplog
):
    broken, *fine = confirmed_purchases(3)
    build = mailer.confirmation_message

    def confirmation_message(purchase, codes):
        if purchase.pk == broken.pk:
            raise ValueError("a template bug")
        return build(purchase, codes)

    monkeypatch.setattr(mailer, "confirmation_message", confirmation_message)
    with caplog.at_level(logging.ERROR, logger="tickets.delivery.mailer"):
        assert mailer.deliver_batch() == 2

    assert str(broken.pk) in caplog.text
    assert {message.to[0] for message in mailoutbox} == {p.customer_email for p in fine}
    broken.refresh_from_db()
    assert broken.status == Status.CONFIRMED
