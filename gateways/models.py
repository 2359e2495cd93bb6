"""What the gateway package stores: each gateway callback, once, and the
Stripe objects made under our idempotency keys."""

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
            # The backlog on the metrics page: only the events still waiting.
            models.Index(
                fields=["received_at"],
                condition=models.Q(processed_at__isnull=True),
                name="webhook_waiting_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.gateway}:{self.event_id}"


class StripeCharge(models.Model):
    """The PaymentIntent made for one charge's idempotency key, recorded (and
    committed) before it is confirmed: a lost reply, a crash or a retry is
    resolved by retrieving this intent, never by creating a second one."""

    key = models.CharField(max_length=255, unique=True)
    intent_id = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.key} -> {self.intent_id}"


class StripeRefund(models.Model):
    """The Stripe refund made under one refund idempotency key, so the refund
    sweep asks Stripe about that refund and never asks for a second one."""

    key = models.CharField(max_length=255, unique=True)
    refund_id = models.CharField(max_length=255, unique=True)
    # The charge's idempotency key, and whether Stripe said the money is back.
    charge_key = models.CharField(max_length=255, db_index=True)
    settled = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.key} -> {self.refund_id}"
