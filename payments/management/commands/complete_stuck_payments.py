"""Operators' tool for destination payments stuck in processing.

It goes through the same services as the beat's sweep: rows are claimed in
bounded batches (so a sweep running at the same time never takes the same
payment) and each is reconciled with the gateway's real outcome. `--dry-run`
asks the gateway and prints what would happen, changing nothing.
"""

from django.core.management.base import BaseCommand
from django.utils import timezone

from payments import selectors, services
from payments.models import Payment
from project.command_args import positive_int
from project.errors import DependencyUnavailable, DomainError

COLUMNS = ("payment", "booking", "amount", "age", "gateway")


def stuck_payment_rows(*, minutes: int, apply: bool) -> list[dict]:
    """One row per destination payment stuck for longer than `minutes`: what the
    gateway says, what reconciling does (or would do) and the status after.
    """
    if not apply:
        stuck = selectors.payments_stuck(older_than_minutes=minutes)
        ids = list(stuck.order_by("processing_started_at").values_list("pk", flat=True))
        return [_row(services.payment_reconcile_plan, pk, planned=True) for pk in ids]
    rows = []
    while batch := services.payments_claim_stuck(older_than_minutes=minutes):
        rows += [_row(services.payment_reconcile, pk, planned=False) for pk in batch]
    return rows


def _row(service, payment_id, *, planned: bool) -> dict:
    payment = Payment.objects.get(pk=payment_id)
    row = {
        "kind": "destination",
        "id": str(payment.pk),
        "booking": str(payment.booking_id),
        "amount": f"{payment.amount} {payment.currency}",
        "age": _minutes_since(payment.processing_started_at),
    }
    try:
        reconciliation = service(payment_id=payment_id)
    except (DomainError, DependencyUnavailable) as exc:
        # One payment the gateway cannot answer for must not stop the others.
        payment.refresh_from_db()
        return {**row, "gateway": "", "action": f"error: {exc}", "result": payment.status}
    return {
        **row,
        "gateway": str(reconciliation.outcome),
        "action": str(reconciliation.action),
        "result": "" if planned else reconciliation.payment.status,
    }


def _minutes_since(moment) -> int:
    return int((timezone.now() - moment).total_seconds() // 60) if moment else 0


class Command(BaseCommand):
    help = (
        "Reconciles destination payments stuck in processing for longer than --minutes "
        "with the gateway's real outcome."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--minutes", type=positive_int, required=True, help="stuck for longer than this"
        )
        parser.add_argument("--dry-run", action="store_true", help="show, change nothing")

    def handle(self, *args, minutes: int, dry_run: bool, **options):
        rows = stuck_payment_rows(minutes=minutes, apply=not dry_run)
        self.stdout.write(
            f"{len(rows)} destination payment(s) stuck in processing "
            f"for more than {minutes} minute(s){' (dry run: nothing changed)' if dry_run else ''}"
        )
        if rows:
            self._print_table(rows, dry_run)
        if not dry_run and rows:
            settled = sum(row["result"] in ("completed", "failed") for row in rows)
            self.stdout.write(self.style.SUCCESS(f"settled {settled}, left {len(rows) - settled}"))

    def _print_table(self, rows: list[dict], dry_run: bool) -> None:
        header = [*COLUMNS, "would" if dry_run else "did", "status"]
        lines = [header] + [
            [
                row["id"],
                row["booking"],
                row["amount"],
                f"{row['age']}m",
                row["gateway"],
                row["action"],
                row["result"] or "processing",
            ]
            for row in rows
        ]
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        for line in lines:
            self.stdout.write(
                "  ".join(
                    cell.ljust(width) for cell, width in zip(line, widths, strict=True)
                ).rstrip()
            )
