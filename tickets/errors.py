from project import errors
from project.errors import DomainError


class TicketUnavailable(DomainError):
    code = "ticket_unavailable"
    http_status = 400
    field = "ticket_id"  # answered in DRF's validation shape, under this field
    default_detail = "This ticket does not exist or is not on sale."


class IllegalTransition(errors.IllegalTransition):
    default_detail = "The purchase cannot make this move from its current state."


class PurchaseNotPending(IllegalTransition):
    code = "purchase_not_pending"
    default_detail = "The purchase is no longer pending."


class PaymentAlreadySubmitted(IllegalTransition):
    code = "payment_already_submitted"
    default_detail = "A payment was already submitted for this purchase."


class InventoryInvariantBroken(DomainError):
    code = "inventory_invariant"
    http_status = 500
    default_detail = "Releasing these seats would exceed the ticket's total."


class RefundRefused(errors.RefundRefused):
    default_detail = "This purchase cannot be refunded."


class QuantityInvalid(DomainError):
    code = "quantity_invalid"
    http_status = 400
    field = "quantity"
    default_detail = "The quantity is out of range."


class CapacityRefused(DomainError):
    code = "capacity_refused"
    default_detail = "The capacity cannot go below the seats sold or held."


class HoldLimitReached(DomainError):
    """Too many unpaid seats held by one client or e-mail for this ticket."""

    code = "hold_limit_reached"
    http_status = 429
    default_detail = "Too many unpaid seats are held for this ticket."


class TicketSoldOut(DomainError):
    """Fewer seats are free than asked for, and no pending purchase holds any
    that could come back: the request is refused and nothing is stored."""

    code = "sold_out"
    http_status = 409
    routine = True  # most buyers of a flash sale hear it: not a warning each
    # True where the database found no seat free and none held: nothing the
    # line does can free one, so Redis may answer the next buyers (tickets/sold_out.py).
    none_left = False
    default_detail = (
        "Sold out: no seats are left for this ticket, and none are held by pending "
        "purchases that could give them back."
    )


class SeatsOnSale(DomainError):
    """The waiting list is for sold-out tickets: while seats can be bought, buy."""

    code = "seats_on_sale"
    http_status = 409
    default_detail = "Seats of this ticket are still on sale: buy them instead of waiting."


class OfferNotOpen(DomainError):
    code = "offer_not_open"
    http_status = 409
    default_detail = "This waiting-list offer is not open: it was taken, declined or has lapsed."


class WaitingListCapReached(DomainError):
    code = "waiting_list_cap_reached"
    http_status = 429
    default_detail = "This client already waits for as many seats of this ticket as allowed."


class WaitingListMailsCapped(DomainError):
    """One client asked for more join e-mails than WAITING_LIST_MAILS_PER_CLIENT
    in the window: a join must not be a way to flood mailboxes."""

    code = "waiting_list_mails_capped"
    http_status = 429
    default_detail = "Too many waiting-list joins came from this client for now: try again later."

    def __init__(self, detail: str | None = None, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after  # seconds, answered as Retry-After


class NotEnoughFreeSeats(DomainError):
    code = "not_enough_free_seats"
    http_status = 409
    default_detail = "Fewer seats are free than the offer needs."
