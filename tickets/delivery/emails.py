"""The confirmation e-mail that delivers a purchase's ticket codes.

Plain text and HTML alternatives; the HTML shows each code beside its QR image,
which travels inline in the same message (Content-ID, referenced as `cid:`), so
mail clients that block remote images still show it. The image is small (see
tickets/delivery/qr.py) and the HTML gives its displayed size.

`confirmation_message` builds one message from a purchase (its ticket loaded)
and its codes; the single-purchase path and the batched mailer
(tickets/delivery/mailer.py) both send what it builds.
"""

from email.mime.image import MIMEImage

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from tickets.delivery.qr import EMAIL_BORDER, EMAIL_SCALE, EMAIL_ZOOM, qr_pixels, qr_png
from tickets.models import TicketPurchase, WaitingListEntry


def _content_id(code: str) -> str:
    return f"{code.lower()}@tickets"


def _inline_qr(code: str) -> MIMEImage:
    image = MIMEImage(qr_png(code, scale=EMAIL_SCALE, border=EMAIL_BORDER), _subtype="png")
    image.add_header("Content-ID", f"<{_content_id(code)}>")
    image.add_header("Content-Disposition", "inline", filename=f"{code}.png")
    return image


def confirmation_message(purchase: TicketPurchase, codes: list[str]) -> EmailMultiAlternatives:
    """The purchase's confirmation with one inline QR image per code."""
    context = {
        "purchase": purchase,
        "ticket": purchase.ticket,
        "codes": codes,
        "qr_codes": [
            {
                "code": code,
                "cid": _content_id(code),
                "size": qr_pixels(code, scale=EMAIL_SCALE, border=EMAIL_BORDER) * EMAIL_ZOOM,
            }
            for code in codes
        ],
    }
    message = EmailMultiAlternatives(
        subject=f"Your tickets for {purchase.ticket.name}",
        body=render_to_string("tickets/email/confirmation.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[purchase.customer_email],
    )
    message.attach_alternative(
        render_to_string("tickets/email/confirmation.html", context), "text/html"
    )
    # multipart/related: the images belong to the HTML part rather than being
    # separate downloads.
    message.mixed_subtype = "related"
    for code in codes:
        message.attach(_inline_qr(code))
    return message


def send_purchase_confirmation(purchase: TicketPurchase) -> None:
    codes = list(purchase.codes.values_list("code", flat=True))
    confirmation_message(purchase, codes).send()


def offer_message(entry: WaitingListEntry, *, link: str) -> EmailMultiAlternatives:
    """A waiting-list offer: the seats held for the entry, until when, and the link
    that buys (or declines) them."""
    subject = f"Seats for {entry.ticket.name} are held for you"
    return _entry_message(entry, "offer", subject=subject, link=link)


def entry_message(entry: WaitingListEntry, *, link: str) -> EmailMultiAlternatives:
    """A place on a waiting list: the link to it (the entry's secret), sent to
    the e-mail address given, on every join. Unconfirmed, the link is how its
    owner confirms it: whoever typed the address never sees it."""
    if entry.state == WaitingListEntry.State.UNCONFIRMED:
        subject = f"Confirm your place on the waiting list for {entry.ticket.name}"
    else:
        subject = f"You are on the waiting list for {entry.ticket.name}"
    return _entry_message(entry, "entry", subject=subject, link=link)


def entry_cancelled_message(entry: WaitingListEntry, *, link: str) -> EmailMultiAlternatives:
    """The event of a waiting-list entry was cancelled: the entry (and any offer) ended."""
    subject = f"{entry.ticket.name} is cancelled"
    return _entry_message(entry, "entry_cancelled", subject=subject, link=link)


def _entry_message(entry, template: str, *, subject: str, link: str) -> EmailMultiAlternatives:
    context = {
        "entry": entry,
        "ticket": entry.ticket,
        "link": link,
        "total": entry.ticket.price * entry.quantity,
    }
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"tickets/email/{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[entry.customer_email],
    )
    message.attach_alternative(
        render_to_string(f"tickets/email/{template}.html", context), "text/html"
    )
    return message


def refund_message(purchase: TicketPurchase) -> EmailMultiAlternatives:
    """The money of a purchase went back to the buyer, and its codes no longer
    open the door."""
    context = {"purchase": purchase, "ticket": purchase.ticket}
    message = EmailMultiAlternatives(
        subject=f"Your refund for {purchase.ticket.name}",
        body=render_to_string("tickets/email/refund.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[purchase.customer_email],
    )
    message.attach_alternative(render_to_string("tickets/email/refund.html", context), "text/html")
    return message
