"""Who is acting, for the audit trail: a staff user, a client, or a task.

A request sets itself as the actor for its duration (`ActorMiddleware`); the
name is read only when something is logged, so a user DRF authenticates inside
the view (a token) is the one recorded. A Celery task sets its own name
(workers/apps.py). Anything else is "system".
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from project.clients import client_address

_actor: ContextVar[object | None] = ContextVar("actor", default=None)


@contextmanager
def acting_as(actor) -> Iterator[None]:
    """`actor` is a name, or a request whose user is read when asked."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def set_actor(actor) -> object:
    return _actor.set(actor)


def reset_actor(token) -> None:
    _actor.reset(token)


def current_actor() -> str:
    actor = _actor.get()
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    user = getattr(actor, "user", None)
    if user is not None and user.is_authenticated:
        return f"user {user.get_username()}"
    return f"client {client_address(actor)}"


class ActorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with acting_as(request):
            return self.get_response(request)
