"""The ids every log line carries while they are known: `request_id`,
`purchase_id`, `ticket_id`, `task_id` (and `task_name`).

They live in one context variable, so they follow the request or the task that
bound them, thread by thread, and no code has to pass them along: the request
id middleware (project/request_id.py) binds the request's, the workers bind the
task's and its object's (workers/log_context.py), a batch binds each purchase
around the lines about it. The log filter (project/log_format.py) puts them on
every record, in the plain format and in JSON alike.

A purchase keeps the id of the request that created it (`request_id` on
TicketPurchase), so a batch that decides purchases from many requests binds
each purchase's own: one grep of a request id follows its purchase from the
web through the worker to the mailer.
"""

from contextvars import ContextVar, Token
from types import MappingProxyType

_EMPTY: MappingProxyType = MappingProxyType({})
_ids: ContextVar[MappingProxyType] = ContextVar("log_ids", default=_EMPTY)
# Whether a request is being served (its id is then the request's own, not one
# a purchase brought along).
_serving: ContextVar[bool] = ContextVar("log_serving", default=False)


def current() -> MappingProxyType:
    """The ids bound now (read-only); empty outside any request or task."""
    return _ids.get()


def request_id() -> str:
    """The id of the request being served, "" outside one."""
    return _ids.get().get("request_id", "") if _serving.get() else ""


def request_begin(request_id: str) -> tuple[Token, Token]:
    """A request is served under `request_id` until `request_end(tokens)`."""
    return push(request_id=request_id), _serving.set(True)


def request_end(tokens: tuple[Token, Token]) -> None:
    ids, serving = tokens
    _serving.reset(serving)
    _ids.reset(ids)


def push(**ids) -> Token:
    """Binds `ids` on top of those bound now (None or "" leaves a name as it
    was) until `pop(token)`; for a span that a `with` cannot hold (a task's
    prerun and postrun signals)."""
    given = {name: str(value) for name, value in ids.items() if value is not None and value != ""}
    return _ids.set(MappingProxyType({**_ids.get(), **given}))


def pop(token: Token) -> None:
    _ids.reset(token)


# Lower case: it reads as a function, `with bind(purchase_id=...):`.
class bind:
    """Binds `ids` for the `with` block."""

    __slots__ = ("_ids", "_token")

    def __init__(self, **ids) -> None:
        self._ids = ids

    def __enter__(self) -> None:
        self._token = push(**self._ids)

    def __exit__(self, *exc) -> None:
        pop(self._token)


def bind_purchase(purchase) -> bind:
    """Binds a purchase's id and, outside a request (a worker, the mailer, a
    command), the id of the request that created it: inside one, a line
    belongs to the request being served (an admin acting on an old purchase
    keeps its own request id). Reads only what the object holds: a deferred
    `request_id` is left out, never fetched (a query for a log line would cost
    more than the line)."""
    origin = None if _serving.get() else purchase.__dict__.get("request_id")
    return bind(purchase_id=purchase.pk, request_id=origin)
