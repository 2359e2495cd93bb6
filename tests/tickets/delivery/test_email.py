"""The confirmation e-mail goes through a real SMTP server on loopback (aiosmtpd):
plain text and HTML, every code, and an inline QR image per code that decodes
back to that code."""

import email
import logging
from email.message import EmailMessage
from email.policy import default as default_policy

import png
import pytest
from aiosmtpd.controller import Controller

from devtools.embedded_redis import free_port
from tests.factories import PurchaseFactory, TicketFactory
from tests.scanning import decode_qr
from tests.waiting import wait_for, wait_until_final
from tickets.delivery.qr import EMAIL_ZOOM
from tickets.models import TicketPurchase
from tickets.sale.payment import purchase_process
from workers import tasks

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-connection chatter


class Inbox:
    """An aiosmtpd handler that keeps what it receives; it can answer the next
    `refuse` messages with a temporary failure, as a busy relay does."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.refuse:
            self.refuse -= 1
            return "451 4.3.0 Try again later"
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture
def smtp_settings(settings, smtp_server):
    controller, inbox = smtp_server
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    return inbox


def confirmed_purchase(quantity: int = 3) -> TicketPurchase:
    purchase = PurchaseFactory(
        ticket=TicketFactory(name="Traditional Dance Performance", total_quantity=10),
        quantity=quantity,
        customer_email="ann@example.com",
    )
    purchase = purchase_process(purchase_id=purchase.pk)
    assert purchase.status == TicketPurchase.Status.CONFIRMED
    return purchase


def png_size(data: bytes) -> tuple[int, int]:
    width, height, _, _ = png.Reader(bytes=data).read()
    return width, height


def assert_carries_every_code(message: EmailMessage, codes: list[str]) -> None:
    plain = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    images = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert len(images) == len(codes)
    by_cid = {part["Content-ID"].strip("<>"): part.get_content() for part in images}
    for code in codes:
        assert code in plain and code in html
    for cid, data in by_cid.items():
        assert f'src="cid:{cid}"' in html
        assert data.startswith(PNG_MAGIC)
        width, height = png_size(data)
        assert width == height < 100  # a small image, shown larger by the HTML:
        shown = width * EMAIL_ZOOM
        assert f'src="cid:{cid}" width="{shown}" height="{shown}"' in html and shown >= 200
    assert sorted(text for data in by_cid.values() for text in decode_qr(data)) == sorted(codes)


@pytest.mark.django_db
def test_the_confirmation_arrives_over_smtp_with_every_code_and_its_qr(smtp_settings):
    purchase = confirmed_purchase(quantity=3)
    codes = list(purchase.codes.values_list("code", flat=True))

    result = tasks.deliver_purchase.apply(args=[str(purchase.pk)])

    assert result.get() == TicketPurchase.Status.COMPLETED
    [message] = smtp_settings.messages
    assert message["To"] == "ann@example.com"
    assert message["Subject"] == "Your tickets for Traditional Dance Performance"
    assert message.get_content_type() == "multipart/related"
    assert_carries_every_code(message, codes)


@pytest.mark.django_db
def test_a_busy_relay_is_retried_until_the_message_goes_through(smtp_settings):
    purchase = confirmed_purchase(quantity=1)
    smtp_settings.refuse = 2

    tasks.deliver_purchase.apply(args=[str(purchase.pk)])

    assert len(smtp_settings.messages) == 1
    purchase.refresh_from_db()
    assert purchase.status == TicketPurchase.Status.COMPLETED


@pytest.mark.django_db
def test_retries_are_bounded_then_a_clean_error_leaves_the_purchase_confirmed(
    smtp_settings, caplog
):
    purchase = confirmed_purchase(quantity=1)
    smtp_settings.refuse = 100

    with caplog.at_level(logging.WARNING, logger="workers.tasks"):
        result = tasks.deliver_purchase.apply(args=[str(purchase.pk)])

    assert result.successful()
    attempts = 1 + tasks.deliver_purchase.max_retries
    assert smtp_settings.refuse == 100 - attempts
    [final] = [record for record in caplog.records if record.levelno == logging.ERROR]
    message = final.getMessage()
    assert str(purchase.pk) in message and "deliver_purchase gave up" in message
    purchase.refresh_from_db()
    assert purchase.status == TicketPurchase.Status.CONFIRMED
    assert not smtp_settings.messages


@pytest.mark.django_db
def test_a_closed_smtp_port_is_retried_then_given_up_cleanly(settings, caplog):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    purchase = confirmed_purchase(quantity=1)

    with caplog.at_level(logging.ERROR, logger="workers.tasks"):
        result = tasks.deliver_purchase.apply(args=[str(purchase.pk)])

    assert result.successful()
    assert str(purchase.pk) in caplog.text
    assert TicketPurchase.objects.get(pk=purchase.pk).status == TicketPurchase.Status.CONFIRMED


@pytest.mark.django_db(transaction=True)
def test_a_purchase_made_over_http_is_mailed_by_a_real_worker(
    smtp_server, api_client, start_worker
):
    controller, inbox = smtp_server
    worker = start_worker(
        "mail", concurrency=2, extra_env={"EMAIL_URL": f"smtp://127.0.0.1:{controller.port}"}
    )
    try:
        ticket = TicketFactory(total_quantity=5)
        response = api_client.post(
            "/api/tickets/purchase/direct/",
            {
                "ticket_id": ticket.pk,
                "quantity": 2,
                "customer_name": "Ann",
                "customer_email": "ann@example.com",
                "payment_method": "card",
                "payment_token": "tok_success",
            },
            format="json",
        )
        assert response.status_code == 202
        [purchase] = wait_until_final([response.json()["purchase_id"]])
        assert purchase.status == TicketPurchase.Status.COMPLETED
        [message] = wait_for(lambda: inbox.messages, timeout=10)
    finally:
        worker.stop()
    assert_carries_every_code(message, list(purchase.codes.values_list("code", flat=True)))
