"""Destination bookings and their payments: a product of their own, kept apart
from ticket purchases (a booking never touches ticket inventory, and a ticket
purchase never touches a `Payment`)."""

import uuid

from django.db import models
from django.db.models import Q

from project.audit import AuditEvent


class Destination(models.Model):
    """A place guests can book a trip to, priced per guest."""

    name = models.CharField(max_length=200, unique=True)
    country = models.CharField(max_length=100)
    region = models.CharField(max_length=100, blank=True)
    description = models.TextField(blank=True)
    price_per_guest = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(price_per_guest__gte=0), name="destination_price_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Booking(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        CONFIRMED = "confirmed"
        FAILED = "failed"
        CANCELLED = "cancelled"
        REFUNDED = "refunded"

    # A booking has no delivery step: once confirmed, only a refund moves it.
    FINAL_STATUSES = (Status.CONFIRMED, Status.FAILED, Status.CANCELLED, Status.REFUNDED)
    MAX_GUESTS = 20

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    destination = models.ForeignKey(Destination, on_delete=models.PROTECT, related_name="bookings")
    customer_name = models.CharField(max_length=120)
    customer_email = models.EmailField()
    travel_date = models.DateField()
    guests = models.PositiveSmallIntegerField()
    total_amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    failure_reason = models.CharField(max_length=64, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["customer_email"], name="booking_email_idx"),
            models.Index(fields=["status", "-created_at"], name="booking_status_created_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(guests__gte=1), name="booking_guests_positive"),
            models.CheckConstraint(
                condition=Q(total_amount__gte=0), name="booking_total_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES


class Payment(models.Model):
    """The one payment of a booking. Its id is the gateway's idempotency key, so
    no retry or redelivery can capture it twice."""

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        COMPLETED = "completed"
        FAILED = "failed"
        REFUND_PENDING = "refund_pending"  # asked of the gateway, not known done
        REFUNDED = "refunded"

    class Method(models.TextChoices):
        CARD = "card"
        MOBILE_MONEY = "mobile_money"
        BANK_TRANSFER = "bank_transfer"

    FINAL_STATUSES = (Status.COMPLETED, Status.FAILED, Status.REFUNDED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    booking = models.OneToOneField(Booking, on_delete=models.CASCADE, related_name="payment")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    method = models.CharField(max_length=20, choices=Method.choices)
    payment_token = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    gateway_reference = models.CharField(max_length=100, blank=True)
    processing_started_at = models.DateTimeField(null=True, blank=True)
    # Stamped when a stuck-payment sweep claims the row, so a second sweep running
    # at the same time (or soon after) does not take it again.
    sweep_claimed_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    # Why the money went back: a staff refund, or a capture after the booking ended.
    refund_reason = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        # Refunding is a staff capability of its own: is_staff alone grants none.
        permissions = [("refund_payment", "Can refund destination payments")]
        indexes = [
            models.Index(
                fields=["status", "processing_started_at"], name="payment_status_started_idx"
            ),
            models.Index(fields=["gateway_reference"], name="payment_gateway_ref_idx"),
            models.Index(fields=["-created_at"], name="payment_created_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="payment_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"


class BookingEvent(AuditEvent):
    """The booking's audit trail: one append-only row per state change of the
    booking or its payment, and per staff action."""

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="events")

    class Meta(AuditEvent.Meta):
        indexes = [models.Index(fields=["booking", "at"], name="booking_event_idx")]

    def __str__(self) -> str:
        return f"{self.booking_id} {self.action} {self.from_status}->{self.to_status}"
