"""Operators' tool for payments stuck in processing, tickets and destinations alike.

Both actions go through the same services the sweeps use; `--dry-run` asks the
gateway and prints what would happen without changing anything.
"""

from django.core.management.base import BaseCommand
from django.utils import timezone

from payments.gateways import Outcome, get_gateway
from tickets import selectors, services

ACTIONS_BY_OUTCOME = {
    Outcome.CAPTURED: "confirm",
    Outcome.DECLINED: "fail",
    Outcome.PENDING: "leave (gateway has no answer yet)",
    Outcome.NOT_FOUND: "charge again (never reached the gateway)",
    Outcome.REFUNDED: "leave (refunded at the gateway)",
}


def positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = "Lists or reconciles payments stuck in processing (ticket purchases and bookings)."

    def add_arguments(self, parser):
        parser.add_argument("--action", required=True, choices=["list-stuck", "reconcile"])
        parser.add_argument(
            "--minutes", type=positive_int, default=10, help="stuck for longer than this"
        )
        parser.add_argument("--dry-run", action="store_true", help="show, change nothing")

    def handle(self, *args, action: str, minutes: int, dry_run: bool, **options):
        rows = self._ticket_rows(minutes, apply=action == "reconcile" and not dry_run)
        rows += self._destination_rows(minutes, apply=action == "reconcile" and not dry_run)
        self._print_table(rows, planned=action == "list-stuck" or dry_run)
        found = len(rows)
        verb = (
            "found" if action == "list-stuck" else ("would reconcile" if dry_run else "reconciled")
        )
        self.stdout.write(f"{verb} {found} stuck payment(s) older than {minutes} minute(s)")

    def _ticket_rows(self, minutes: int, apply: bool) -> list[dict]:
        gateway = get_gateway()
        rows = []
        stuck = selectors.purchases_stuck_in_payment(older_than_minutes=minutes)
        for purchase in stuck.order_by("payment_started_at"):
            outcome = gateway.lookup(idempotency_key=str(purchase.pk)).outcome
            row = {
                "kind": "ticket",
                "id": str(purchase.pk),
                "age": _minutes_since(purchase.payment_started_at),
                "gateway": outcome,
                "action": ACTIONS_BY_OUTCOME[outcome],
                "result": "",
            }
            if apply:
                row["result"] = services.purchase_reconcile_payment(purchase_id=purchase.pk).status
            rows.append(row)
        return rows

    def _destination_rows(self, minutes: int, apply: bool) -> list[dict]:
        try:
            from payments.management.commands.complete_stuck_payments import stuck_payment_rows
        except ImportError:
            return []
        return stuck_payment_rows(minutes=minutes, apply=apply)

    def _print_table(self, rows: list[dict], planned: bool) -> None:
        if not rows:
            return
        header = ["kind", "id", "age", "gateway", "action" if planned else "did", "result"]
        lines = [header] + [
            [r["kind"], r["id"], f"{r['age']}m", r["gateway"], r["action"], r["result"]]
            for r in rows
        ]
        widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
        for line in lines:
            self.stdout.write(
                "  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=True))
            )


def _minutes_since(moment) -> int:
    return int((timezone.now() - moment).total_seconds() // 60) if moment else 0
