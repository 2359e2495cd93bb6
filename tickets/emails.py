"""The confirmation e-mail that delivers a purchase's ticket codes."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from tickets.models import TicketPurchase


def send_purchase_confirmation(purchase: TicketPurchase) -> None:
    codes = list(purchase.codes.values_list("code", flat=True))
    context = {"purchase": purchase, "ticket": purchase.ticket, "codes": codes}
    message = EmailMultiAlternatives(
        subject=f"Your tickets for {purchase.ticket.name}",
        body=render_to_string("tickets/email/confirmation.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[purchase.customer_email],
    )
    message.send()
