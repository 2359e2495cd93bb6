"""Operators' tool for payments stuck in processing, whichever product owns them.

Each product registers the payments it owns (gateways/registry.py); this
command asks each for its stuck payments and goes through the same services
the sweeps use. `--dry-run` asks the gateway and prints what would happen
without changing anything.
"""

from django.core.management.base import BaseCommand
from django.utils import timezone

from gateways.registry import PaymentOwner, StuckPayment, payment_owners
from project.command_args import positive_int
from project.errors import DependencyUnavailable, DomainError


class Command(BaseCommand):
    help = "Lists or reconciles payments stuck in processing (ticket purchases and bookings)."

    def add_arguments(self, parser):
        parser.add_argument("--action", required=True, choices=["list-stuck", "reconcile"])
        parser.add_argument(
            "--minutes", type=positive_int, default=10, help="stuck for longer than this"
        )
        parser.add_argument("--dry-run", action="store_true", help="show, change nothing")

    def handle(self, *args, action: str, minutes: int, dry_run: bool, **options):
        apply = action == "reconcile" and not dry_run
        rows = [
            self._row(owner, stuck, apply)
            for owner in payment_owners()
            for stuck in owner.stuck(minutes)
        ]
        self._print_table(rows, planned=not apply)
        verb = "found" if action == "list-stuck" else ("reconciled" if apply else "would reconcile")
        self.stdout.write(f"{verb} {len(rows)} stuck payment(s) older than {minutes} minute(s)")

    @staticmethod
    def _row(owner: PaymentOwner, stuck: StuckPayment, apply: bool) -> list[str]:
        row = [owner.label, stuck.id, f"{_minutes_since(stuck.started_at)}m"]
        try:
            if apply:
                plan, status = owner.settle(stuck.id)
            else:
                plan, status = owner.plan(stuck.id), ""
        except (DomainError, DependencyUnavailable) as exc:
            # One payment the gateway cannot answer for must not stop the others.
            return [*row, "", f"error: {exc}", ""]
        return [*row, str(plan.outcome), str(plan.action), status]

    def _print_table(self, rows: list[list[str]], planned: bool) -> None:
        if not rows:
            return
        header = ["kind", "id", "age", "gateway", "action" if planned else "did", "result"]
        lines = [header, *rows]
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        for line in lines:
            cells = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
            self.stdout.write("  ".join(cells).rstrip())


def _minutes_since(moment) -> int:
    return int((timezone.now() - moment).total_seconds() // 60) if moment else 0
