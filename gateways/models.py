"""What the gateway package stores: each gateway callback, once."""

from django.db import models


class WebhookEvent(models.Model):
    """One gateway callback, stored once: the unique (gateway, event_id) pair is
    what turns a redelivered or replayed event into a no-op."""

    gateway = models.CharField(max_length=32)
    event_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=50, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # Stamped when the sweep re-enqueues an event whose processing task was lost.
    sweep_claimed_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=200, blank=True)

    class Meta:
        # The table it was created in, when webhooks lived in payments: no row moved.
        db_table = "payments_webhookevent"
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["gateway", "event_id"], name="webhook_event_unique"),
        ]
        indexes = [
            models.Index(fields=["kind", "object_id"], name="webhook_object_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.gateway}:{self.event_id}"
