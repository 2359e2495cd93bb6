"""Admin actions run a service on each selected object and report per object."""

from collections.abc import Callable

from django.contrib import messages

from project.errors import DependencyUnavailable, DomainError


def run_service_on_each(
    modeladmin, request, queryset, service: Callable, *, id_argument: str, done: str
) -> None:
    """One refused object (a domain error, a gateway outage) is reported and the
    rest go ahead."""
    succeeded = 0
    for obj in queryset:
        try:
            service(**{id_argument: obj.pk})
            succeeded += 1
        except DomainError as exc:
            modeladmin.message_user(request, f"{obj.pk}: {exc.detail}", messages.WARNING)
        except DependencyUnavailable as exc:
            modeladmin.message_user(request, f"{obj.pk}: {exc.detail} Try again.", messages.ERROR)
    if succeeded:
        noun = queryset.model._meta.verbose_name
        modeladmin.message_user(request, f"{succeeded} {noun}(s) {done}.", messages.SUCCESS)
