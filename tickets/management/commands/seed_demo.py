from django.core.management.base import BaseCommand

from tickets.seed import seed_tickets


class Command(BaseCommand):
    help = "Creates demo tickets and destinations. Safe to run again: creates nothing twice."

    def handle(self, *args, **options):
        tickets = seed_tickets()
        destinations = _seed_destinations()
        self.stdout.write(
            self.style.SUCCESS(
                f"seed_demo: {tickets} ticket(s) and {destinations} destination(s) created"
            )
        )


def _seed_destinations() -> int:
    try:
        from payments.seed import seed_destinations
    except ImportError:
        return 0
    return seed_destinations()
