"""Check-in at the door: a code is let in once.

The whole decision is one conditional UPDATE (`status = valid` in its WHERE
clause, on the code's own row): of any number of scanners racing on one code,
the database lets exactly one row count of 1 through. Only after a miss do we
read the code, to tell the staff member why it was refused.
"""

from datetime import datetime

from django.db.models import Subquery
from django.utils import timezone

from project.errors import DomainError
from tickets.audit import purchase_log
from tickets.codes import code_normalize
from tickets.models import TicketCode, TicketPurchase


class CodeNotFound(DomainError):
    code = "not_found"
    http_status = 404
    default_detail = "No ticket has this code."


class CodeAlreadyUsed(DomainError):
    code = "already_used"
    http_status = 409
    default_detail = "This ticket was already used."

    def __init__(self, used_at: datetime) -> None:
        self.used_at = used_at
        super().__init__(f"This ticket was already used at {used_at.isoformat()}.")


class CodeVoid(DomainError):
    code = "void"
    http_status = 410
    default_detail = "This ticket was cancelled or refunded."


class CodeNotValid(DomainError):
    code = "not_valid"
    http_status = 409
    default_detail = "This ticket's purchase is not confirmed."


ADMITTING_STATUSES = (TicketPurchase.Status.CONFIRMED, TicketPurchase.Status.COMPLETED)


def _why_void(purchase: TicketPurchase) -> str:
    if purchase.dispute in (TicketPurchase.Dispute.OPEN, TicketPurchase.Dispute.LOST):
        return "This ticket is void: its payment is disputed by the card holder's bank."
    return CodeVoid.default_detail


def code_redeem(*, code: str, staff_user) -> TicketCode:
    """Marks a valid code used by `staff_user`; raises why not otherwise.

    `purchase_id IN (...)` keeps the purchase check on the code's own row, so the
    UPDATE needs no join and its WHERE clause is re-checked on the locked row
    when two scans collide.
    """
    code = code_normalize(code)
    admitted = TicketPurchase.objects.filter(status__in=ADMITTING_STATUSES).order_by().values("pk")
    redeemed = TicketCode.objects.filter(
        code=code,
        status=TicketCode.Status.VALID,
        purchase_id__in=Subquery(admitted),
    ).update(status=TicketCode.Status.USED, used_at=timezone.now(), redeemed_by=staff_user)
    ticket_code = TicketCode.objects.select_related("purchase__ticket").filter(code=code).first()
    if ticket_code is None:
        raise CodeNotFound()
    if redeemed == 1:
        purchase_log(ticket_code.purchase, "code redeemed", note=ticket_code.code)
        return ticket_code
    if ticket_code.status == TicketCode.Status.USED:
        raise CodeAlreadyUsed(ticket_code.used_at)
    if ticket_code.status == TicketCode.Status.VOID:
        raise CodeVoid(_why_void(ticket_code.purchase))
    raise CodeNotValid()
