"""`manage.py test_ticket_purchase`: an operator's command, not a test.

It buys tickets through the real pipeline (the API's service, then a Celery
worker reserving, charging and delivering) and prints the purchase as JSON, so
an operator can check a deployment end to end. Its name is the one operators
know; the test suite lives in tests/.
"""

import json
import time

from django.core.management.base import BaseCommand, CommandError

from tickets.models import Ticket, TicketPurchase
from tickets.sale import purchases
from tickets.sale.serializers import PurchaseDetailSerializer


class Command(BaseCommand):
    help = (
        "Buys tickets through the real pipeline (a Celery worker must be running) "
        "and prints the purchase as JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument("--ticket-id", type=int, help="default: the oldest ticket on sale")
        parser.add_argument("--quantity", type=int, default=2)
        parser.add_argument("--token", default="tok_success", help="simulated payment token")
        parser.add_argument("--email", default="test@example.com")
        parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait")

    def handle(self, *args, **options):
        ticket = self._ticket(options["ticket_id"])
        purchase = purchases.purchase_create(
            ticket_id=ticket.pk,
            quantity=options["quantity"],
            customer_name="Test Customer",
            customer_email=options["email"],
            payment_method=TicketPurchase.PaymentMethod.CARD,
            payment_token=options["token"],
        )
        self.stderr.write(f"purchase {purchase.id} accepted; waiting for the workers...")
        purchase = self._wait_until_final(purchase, options["timeout"])
        self.stdout.write(json.dumps(PurchaseDetailSerializer(purchase).data, indent=2))

    def _ticket(self, ticket_id: int | None) -> Ticket:
        tickets = Ticket.objects.filter(is_on_sale=True).order_by("pk")
        ticket = tickets.filter(pk=ticket_id).first() if ticket_id else tickets.first()
        if ticket is None:
            raise CommandError("No ticket on sale: run `manage.py seed_demo` or pass --ticket-id.")
        return ticket

    def _wait_until_final(self, purchase: TicketPurchase, timeout: float) -> TicketPurchase:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            purchase.refresh_from_db()
            if purchase.is_final:
                return purchase
            time.sleep(0.25)
        raise CommandError(
            f"purchase {purchase.id} still {purchase.status} after {timeout:.0f}s: "
            "is a Celery worker running (`make run`)?"
        )
