"""The record of an event called off (tickets/cancellation/services.py). A model
of the tickets app, kept beside the room that uses it; tickets/models.py imports
it so Django registers it with the others."""

from django.conf import settings
from django.db import models


class EventCancellation(models.Model):
    """An event called off: its ticket is off sale and every paid purchase is
    refunded (tickets/cancellation/services.py). The figures of the dry run are
    frozen here when the operator confirms; progress is read from the purchases
    themselves, so it can never disagree with them."""

    class Status(models.TextChoices):
        RUNNING = "running"
        DONE = "done"

    ticket = models.OneToOneField(
        "tickets.Ticket", on_delete=models.PROTECT, related_name="cancellation"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    figures = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Set when the resume sweep (or the confirm) last handed it to the workers.
    sweep_claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        # A staff capability of its own (is_staff alone grants none); no group
        # gets it by default: it moves every buyer's money at once.
        permissions = [("cancel_event", "Can cancel an event and refund everyone")]

    def __str__(self) -> str:
        return f"cancellation of {self.ticket_id} ({self.status})"
