from django.conf import settings
from django.http import Http404
from rest_framework.permissions import BasePermission


class SimulationEnabled(BasePermission):
    """The simulated gateway's callback exists only while simulation is on: 404
    otherwise, as if the route were not there."""

    def has_permission(self, request, view) -> bool:
        if not settings.PAYMENT_SIMULATION_ENABLED:
            raise Http404
        return True
