"""Ticket codes: `TKT-` and 8 characters of Crockford's base32 alphabet (no I, L,
O or U, so a code read aloud at the door is never ambiguous)."""

import secrets

from django.db import connection
from django.db.models import sql
from django.db.models.constants import OnConflict

from tickets.models import TicketCode, TicketPurchase

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 8
MAX_ATTEMPTS = 5


def code_generate() -> str:
    return "TKT-" + "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def codes_issue(*, purchase: TicketPurchase) -> list[str]:
    """Creates the purchase's codes; must run inside the caller's transaction."""
    return codes_issue_many([purchase])


def codes_issue_many(purchases: list[TicketPurchase]) -> list[str]:
    """Every purchase's codes in one multi-row INSERT (answers the codes
    written); must run inside the caller's transaction.

    The unique constraint is the judge of collisions (one in 32^8 per pair):
    the INSERT skips a code already taken (ON CONFLICT DO NOTHING, so no
    savepoint: two statements fewer for every batch), and the codes it skipped
    are drawn again.
    """
    codes = [
        TicketCode(purchase=purchase, code=code_generate())
        for purchase in purchases
        for _ in range(purchase.quantity)
    ]
    unwritten = codes
    for _ in range(MAX_ATTEMPTS):
        if len({code.code for code in codes}) < len(codes):
            _draw_again(unwritten)
            continue
        if _insert_unless_taken(unwritten) == len(unwritten):
            return [code.code for code in codes]
        owners = dict(
            TicketCode.objects.filter(code__in=[code.code for code in unwritten]).values_list(
                "code", "purchase_id"
            )
        )
        unwritten = [code for code in unwritten if owners.get(code.code) != code.purchase_id]
        _draw_again(unwritten)
    raise RuntimeError(f"could not draw unique ticket codes for {len(purchases)} purchases")


def _draw_again(codes: list[TicketCode]) -> None:
    for code in codes:
        code.code = code_generate()


def _insert_unless_taken(codes: list[TicketCode]) -> int:
    """Inserts the codes, skipping any whose code is taken, in as few
    statements as the backend takes (one on PostgreSQL); answers how many rows
    it wrote."""
    fields = [field for field in TicketCode._meta.concrete_fields if not field.primary_key]
    size = connection.ops.bulk_batch_size(fields, codes) or len(codes)
    written = 0
    with connection.cursor() as cursor:
        for start in range(0, len(codes), size):
            query = sql.InsertQuery(TicketCode, on_conflict=OnConflict.IGNORE)
            query.insert_values(fields, codes[start : start + size])
            for statement, params in query.get_compiler(connection=connection).as_sql():
                cursor.execute(statement, params)
                written += cursor.rowcount
    return written


def code_normalize(code: str) -> str:
    """Codes are upper case; a code typed by hand at the door may not be."""
    return code.strip().upper()
