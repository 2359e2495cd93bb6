"""Ticket codes: `TKT-` and 8 characters of Crockford's base32 alphabet (no I, L,
O or U, so a code read aloud at the door is never ambiguous)."""

import secrets

from django.db import IntegrityError, transaction

from tickets.models import TicketCode, TicketPurchase

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 8
MAX_ATTEMPTS = 5


def code_generate() -> str:
    return "TKT-" + "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def codes_issue(*, purchase: TicketPurchase) -> list[TicketCode]:
    """Creates the purchase's codes; must run inside the caller's transaction."""
    return codes_issue_many([purchase])


def codes_issue_many(purchases: list[TicketPurchase]) -> list[TicketCode]:
    """Every purchase's codes in one multi-row INSERT; must run inside the
    caller's transaction.

    The unique constraint is the judge of collisions: a clash (one in 32^8 per
    pair) rolls back the savepoint and draws a fresh set.
    """
    for _ in range(MAX_ATTEMPTS):
        codes = [
            TicketCode(purchase=purchase, code=code_generate())
            for purchase in purchases
            for _ in range(purchase.quantity)
        ]
        if len({code.code for code in codes}) < len(codes):
            continue
        try:
            with transaction.atomic():
                return TicketCode.objects.bulk_create(codes)
        except IntegrityError:
            continue
    raise RuntimeError(f"could not draw unique ticket codes for {len(purchases)} purchases")


def code_normalize(code: str) -> str:
    """Codes are upper case; a code typed by hand at the door may not be."""
    return code.strip().upper()
