"""A batch's captured purchases confirmed in one UPDATE.

Every purchase of the batch gets the same status, payment status and times;
only its gateway reference is its own. Django's `bulk_update` builds a
`CASE WHEN` expression per row and per field and resolves each through the
ORM: for a batch that was most of the pipeline worker's CPU (`python -m
bench.hot_path`, batch stage). Here the constants are plain parameters and the
references one `CASE` on the primary key, written once, as every backend reads it.
"""

from django.db import connection

from tickets.models import TicketPurchase

_CONSTANTS = ("status", "payment_status", "confirmed_at", "updated_at")


def purchases_confirm_rows(purchases: list[TicketPurchase]) -> None:
    """Writes each purchase's `status`, `payment_status`, `confirmed_at`,
    `updated_at` (the same for all: the first purchase's) and its own
    `gateway_reference`, as set on the objects in hand."""
    if not purchases:
        return
    meta, quote = TicketPurchase._meta, connection.ops.quote_name
    first = purchases[0]
    sets, params = [], []
    for name in _CONSTANTS:
        field = meta.get_field(name)
        sets.append(f"{quote(field.column)} = %s")
        params.append(field.get_db_prep_save(getattr(first, name), connection))
    reference = meta.get_field("gateway_reference")
    ids = [meta.pk.get_db_prep_value(purchase.pk, connection) for purchase in purchases]
    whens = " ".join(["WHEN %s THEN %s"] * len(purchases))
    sets.append(f"{quote(reference.column)} = CASE {quote(meta.pk.column)} {whens} END")
    for pk, purchase in zip(ids, purchases, strict=True):
        params += [pk, reference.get_db_prep_save(purchase.gateway_reference, connection)]
    in_ids = ", ".join(["%s"] * len(ids))
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {', '.join(sets)}"
        f" WHERE {quote(meta.pk.column)} IN ({in_ids})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params + ids)
