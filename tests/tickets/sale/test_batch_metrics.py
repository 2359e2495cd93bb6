"""The reserve transaction's hold of the ticket row is timed once per batch
that takes the lock, and only once the transaction has committed: it is the
input of the one-event ceiling (docs/capacity.md)."""

import pytest
from prometheus_client import REGISTRY

from tests.factories import TicketFactory
from tests.tickets.sale.test_batch import waiting
from tickets.sale import batch

pytestmark = pytest.mark.django_db

HOLD = "tickets_batch_reserve_hold_seconds"


def observed() -> tuple[float, float]:
    """(batches timed, seconds held) so far, in this process."""
    count = REGISTRY.get_sample_value(f"{HOLD}_count") or 0.0
    total = REGISTRY.get_sample_value(f"{HOLD}_sum") or 0.0
    return count, total


def test_a_batch_that_locks_the_row_is_timed_once_after_its_commit(
    published, django_capture_on_commit_callbacks
):
    ticket = TicketFactory(total_quantity=2)
    waiting(ticket, 3)
    count_before, seconds_before = observed()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        reserved = batch.reserve_batch(ticket.pk, size=10)
    assert len(reserved.to_charge) == 2
    assert observed()[0] == count_before  # not committed yet: nothing timed

    for callback in callbacks:
        callback()
    count_after, seconds_after = observed()
    assert count_after == count_before + 1
    assert 0 < seconds_after - seconds_before < 5


def test_a_batch_with_nothing_waiting_takes_no_lock_and_is_not_timed(
    published, django_capture_on_commit_callbacks
):
    ticket = TicketFactory(total_quantity=2)
    count_before, _ = observed()

    with django_capture_on_commit_callbacks(execute=True):
        assert batch.reserve_batch(ticket.pk, size=10).claimed == []
    assert observed()[0] == count_before
