import time

from tickets.models import TicketPurchase


def wait_until_final(purchase_ids, timeout: float = 60.0) -> list[TicketPurchase]:
    """Polls the database until every purchase has reached a final state."""
    ids = [str(pk) for pk in purchase_ids]
    deadline = time.monotonic() + timeout
    while True:
        purchases = list(TicketPurchase.objects.filter(pk__in=ids))
        if len(purchases) == len(ids) and all(p.is_final for p in purchases):
            return purchases
        if time.monotonic() > deadline:
            pending = [describe(p) for p in purchases if not p.is_final]
            raise AssertionError(f"not final after {timeout}s: {pending[:10]}")
        time.sleep(0.2)


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"condition not met after {timeout}s")


def describe(purchase: TicketPurchase) -> str:
    """A stuck purchase's state and history, for a failure message."""
    events = purchase.events.order_by("at").values_list("at", "action", "actor")
    history = ", ".join(f"{at:%H:%M:%S.%f} {action} by {actor}" for at, action, actor in events)
    return (
        f"{purchase.pk} {purchase.status}/{purchase.payment_status}"
        f" confirmed_at={purchase.confirmed_at} claimed_at={purchase.sweep_claimed_at}"
        f" [{history}]"
    )
