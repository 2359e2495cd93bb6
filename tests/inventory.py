"""The spec's inventory equation, checked against the database: the one audit
the tests hold every seat movement to (tickets/inventory.py moves the
counters; tickets/ledger.py reads the equation, as the beat and the bench do)."""

from tickets.ledger import balance


def assert_inventory_adds_up(ticket) -> None:
    """Every seat is in exactly one place: on sale, offered to one open offer,
    kept for the line, held by a pending reserved purchase, or sold; unpaid
    holds are counted as such."""
    problems = balance(ticket.pk).problems
    assert not problems, f"ticket {ticket.pk}: {'; '.join(problems)}"
