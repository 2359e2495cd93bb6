from django.core.management.base import BaseCommand

from payments.seed import seed_destinations
from tickets.seed import seed_tickets


class Command(BaseCommand):
    help = "Creates demo tickets and destinations. Safe to run again: creates nothing twice."

    def handle(self, *args, **options):
        tickets = seed_tickets()
        destinations = seed_destinations()
        self.stdout.write(
            self.style.SUCCESS(
                f"seed_demo: {tickets} ticket(s) and {destinations} destination(s) created"
            )
        )
