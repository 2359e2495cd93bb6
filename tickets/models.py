import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower

from project.audit import AuditEvent
from tickets.cancellation.models import EventCancellation  # noqa: F401 (a model of this app)


class Ticket(models.Model):
    """An event on sale, with its inventory of seats."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    venue = models.CharField(max_length=200)
    destination_name = models.CharField(max_length=200, blank=True)
    starts_at = models.DateTimeField()
    price = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    total_quantity = models.PositiveIntegerField()
    available_quantity = models.PositiveIntegerField()
    # Seats taken by reservations nobody has paid for yet (purchases without a
    # payment token): capped so that unpaid holds can never take a whole sale.
    unpaid_held_quantity = models.PositiveIntegerField(default=0)
    # Seats handed to waiting-list entries as offers (tickets/waiting_list/offers.py):
    # held for them, neither on sale nor sold.
    offered_quantity = models.PositiveIntegerField(default=0)
    # Seats come back while people wait but fit none of them yet (one seat freed,
    # the line asks for two): kept for the line, not put on sale, until they do.
    list_held_quantity = models.PositiveIntegerField(default=0)
    # Operators may stop automatic offers: freed seats then go back on sale.
    waiting_list_paused = models.BooleanField(default=False)
    is_on_sale = models.BooleanField(default=True)
    sale_starts_at = models.DateTimeField(null=True, blank=True)
    sale_ends_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at", "id"]
        # A staff capability of its own (is_staff alone grants none): the operator's
        # live view of a sale in the admin (tickets/console/admin.py).
        permissions = [("view_live_sale", "Can watch a ticket's live sale")]
        constraints = [
            models.CheckConstraint(
                condition=Q(available_quantity__gte=0), name="ticket_available_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(available_quantity__lte=F("total_quantity")),
                name="ticket_available_within_total",
            ),
            models.CheckConstraint(condition=Q(price__gte=0), name="ticket_price_not_negative"),
            models.CheckConstraint(
                condition=Q(
                    unpaid_held_quantity__lte=F("total_quantity") - F("available_quantity")
                ),
                name="ticket_unpaid_holds_within_taken",
            ),
            # Free, offered, kept for the line and the rest (held or sold) never add
            # up to more than the seats.
            models.CheckConstraint(
                condition=Q(
                    offered_quantity__lte=F("total_quantity")
                    - F("available_quantity")
                    - F("unpaid_held_quantity")
                    - F("list_held_quantity")
                ),
                name="ticket_offers_within_taken",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TicketPurchase(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        CONFIRMED = "confirmed"
        COMPLETED = "completed"
        FAILED = "failed"
        EXPIRED = "expired"
        CANCELLED = "cancelled"
        REFUNDED = "refunded"

    class PaymentStatus(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        # The gateway waits for the buyer to authenticate (3-D Secure) with
        # `payment_client_secret`; the seats stay held until the hold expires.
        REQUIRES_ACTION = "requires_action"
        COMPLETED = "completed"
        FAILED = "failed"
        # The refund was decided and the codes voided; the gateway call may not
        # have happened yet. The refund sweep finishes what a crash interrupted.
        REFUND_PENDING = "refund_pending"
        REFUNDED = "refunded"

    class PaymentMethod(models.TextChoices):
        CARD = "card"
        MOBILE_MONEY = "mobile_money"
        BANK_TRANSFER = "bank_transfer"

    FINAL_STATUSES = (
        Status.COMPLETED,
        Status.FAILED,
        Status.EXPIRED,
        Status.CANCELLED,
        Status.REFUNDED,
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="purchases")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="ticket_purchases",
    )
    customer_name = models.CharField(max_length=120)
    customer_email = models.EmailField()
    customer_phone = models.CharField(max_length=32, blank=True)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    total_amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    payment_method = models.CharField(max_length=20, choices=PaymentMethod.choices)
    payment_token = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    payment_status = models.CharField(
        max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    failure_reason = models.CharField(max_length=64, null=True, blank=True)
    inventory_reserved = models.BooleanField(default=False)
    # Its reservation is counted in the ticket's `unpaid_held_quantity`.
    holds_unpaid = models.BooleanField(default=False)
    # Seated and charged by a batch (tickets/sale/batch.py), which settles it; a
    # purchase charging under its own task (paid through `complete/`, bought from
    # a waiting-list offer) is settled by its own, one by one.
    seated_in_batch = models.BooleanField(default=False)
    # Who asked, for the per-client cap on unpaid holds (REMOTE_ADDR, or the
    # address NUM_PROXIES trusted proxies report).
    client_address = models.GenericIPAddressField(null=True, blank=True)
    # The id of the request that created it (project/request_id.py): a batch
    # binds it to the lines about the purchase, so one grep follows it end to end.
    request_id = models.CharField(max_length=64, blank=True, default="")
    gateway_reference = models.CharField(max_length=100, blank=True)
    # What the buyer's browser needs to authenticate a payment that requires
    # action (Stripe's PaymentIntent client secret); shown to the holder of the id only.
    payment_client_secret = models.CharField(max_length=255, blank=True)
    hold_expires_at = models.DateTimeField()
    processing_started_at = models.DateTimeField(null=True, blank=True)
    payment_started_at = models.DateTimeField(null=True, blank=True)
    # Set when a sweep hands the purchase to a worker, so a second sweep skips it.
    sweep_claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    # Why the money went back: a staff refund, or a capture that arrived for a
    # purchase that could no longer be confirmed (e.g. "captured_after_expired").
    refund_reason = models.CharField(max_length=64, blank=True)

    class Dispute(models.TextChoices):
        NONE = "", "none"
        OPEN = "open"  # the card holder's bank took the money back: the codes are void
        WON = "won"  # the money stays: the codes are valid again (if the event is ahead)
        LOST = "lost"  # the money is gone: the codes stay void

    # A card holder's dispute of the payment (tickets/refunds/disputes.py).
    dispute = models.CharField(max_length=4, choices=Dispute.choices, blank=True, default="")
    dispute_reason = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        # Each staff capability is its own permission (is_staff alone grants none);
        # the "Door staff" and "Support" groups are made of them (migration 0005).
        permissions = [
            ("redeem_ticketcode", "Can check in ticket codes at the door"),
            ("refund_ticketpurchase", "Can refund ticket purchases"),
            ("view_purchase_debug", "Can read the purchases debug listing"),
            ("resend_tickets", "Can resend tickets by e-mail"),
            ("rerun_processing", "Can re-run processing of purchases"),
        ]
        indexes = [
            models.Index(fields=["status", "hold_expires_at"], name="purchase_status_hold_idx"),
            models.Index(fields=["status", "updated_at"], name="purchase_status_updated_idx"),
            models.Index(
                fields=["payment_status", "payment_started_at"], name="purchase_payment_stuck_idx"
            ),
            models.Index(fields=["user", "-created_at"], name="purchase_user_created_idx"),
            models.Index(fields=["customer_email"], name="purchase_email_idx"),
            models.Index(
                fields=["ticket", "client_address", "status"], name="purchase_client_holds_idx"
            ),
            models.Index(
                fields=["ticket", "customer_email", "status"], name="purchase_email_holds_idx"
            ),
            models.Index(fields=["-created_at"], name="purchase_created_idx"),
            # A ticket's queue: the batch pipeline claims its oldest waiting purchases.
            models.Index(
                fields=["ticket", "created_at"],
                condition=Q(status="pending", inventory_reserved=False),
                name="purchase_ticket_queue_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="purchase_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES


class WaitingListEntry(models.Model):
    """A buyer waiting for seats of a sold-out ticket (tickets/waiting_list/offers.py).

    A join makes the entry `unconfirmed`: it holds no place and is offered
    nothing until the link e-mailed to its address confirms it, so its powers
    belong to whoever reads that mailbox. Confirmed, it waits in line from
    `confirmed_at`. When seats come back they are offered to the waiting
    entries first in line that fit: an offer holds `quantity` seats (counted in
    the ticket's `offered_quantity`) until `offer_expires_at`. The id is the
    holder's secret, as a purchase's is: only the e-mails carry it."""

    class State(models.TextChoices):
        UNCONFIRMED = "unconfirmed"  # joined; the e-mailed link has not confirmed it yet
        WAITING = "waiting"
        OFFERED = "offered"
        TAKEN = "taken"  # bought through its offer: `purchase`
        LAPSED = "lapsed"  # the offer was not taken in time
        DECLINED = "declined"  # the buyer declined the offer
        LEFT = "left"  # the buyer left the list before any offer
        CANCELLED = "cancelled"  # the event was cancelled (tickets/cancellation/)

    # One of these per (ticket, e-mail) at a time; a join finds it again.
    ACTIVE_STATES = (State.UNCONFIRMED, State.WAITING, State.OFFERED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="waiting_list")
    customer_name = models.CharField(max_length=120)
    customer_email = models.EmailField()
    quantity = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.UNCONFIRMED)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # When the address's owner confirmed it: its place in line counts from here.
    confirmed_at = models.DateTimeField(null=True, blank=True)
    offered_at = models.DateTimeField(null=True, blank=True)
    offer_expires_at = models.DateTimeField(null=True, blank=True)
    purchase = models.OneToOneField(
        TicketPurchase,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="waiting_list_entry",
    )
    # Set when the lapse sweep hands the offer to a worker (project/sweeps.py).
    sweep_claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name_plural = "waiting list entries"
        # Staff capabilities of their own (is_staff alone grants none), used in the
        # admin (tickets/admin.py); "Support" gets both (migration 0009).
        permissions = [
            ("offer_waiting_list", "Can send waiting-list offers by hand"),
            ("pause_waiting_list", "Can pause and resume a ticket's waiting-list offers"),
        ]
        indexes = [
            # The line: a ticket's waiting entries, first confirmed first.
            models.Index(
                fields=["ticket", "confirmed_at"],
                condition=Q(state="waiting"),
                name="waiting_list_line_idx",
            ),
            models.Index(
                fields=["offer_expires_at"],
                condition=Q(state="offered"),
                name="waiting_list_offers_due_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=1), name="waiting_list_quantity_positive"
            ),
            # One active entry of a ticket per e-mail address.
            models.UniqueConstraint(
                Lower("customer_email"),
                "ticket",
                condition=Q(state__in=["unconfirmed", "waiting", "offered"]),
                name="waiting_list_one_entry_per_email",
            ),
            # Nothing stands in line, nor is offered seats, unconfirmed.
            models.CheckConstraint(
                condition=~Q(state__in=["waiting", "offered"]) | Q(confirmed_at__isnull=False),
                name="waiting_list_in_line_confirmed",
            ),
            models.CheckConstraint(
                condition=~Q(state="offered") | Q(offer_expires_at__isnull=False),
                name="waiting_list_offer_expires",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_email} for {self.ticket_id} ({self.state})"

    def offer_open(self, now) -> bool:
        """An offer can be bought until its end, even before the lapse sweep
        records it as lapsed."""
        return self.state == self.State.OFFERED and self.offer_expires_at > now


class TicketCode(models.Model):
    class Status(models.TextChoices):
        VALID = "valid"
        USED = "used"
        VOID = "void"

    code = models.CharField(max_length=12, unique=True)
    purchase = models.ForeignKey(TicketPurchase, on_delete=models.CASCADE, related_name="codes")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.VALID)
    used_at = models.DateTimeField(null=True, blank=True)
    redeemed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.code


class IdempotencyKey(models.Model):
    """One row per `Idempotency-Key` sent on create: the unique constraint is
    what makes a replay safe, even when two copies arrive at once."""

    key = models.CharField(max_length=255)
    scope = models.CharField(max_length=64)
    request_fingerprint = models.CharField(max_length=64)
    purchase = models.ForeignKey(
        TicketPurchase, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="idempotency_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"


class PurchaseEvent(AuditEvent):
    """The audit trail: one append-only row per state change of a purchase and
    per staff action, so support can tell what happened from it alone. A
    ticket's own changes (capacity) have no purchase."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    purchase = models.ForeignKey(
        TicketPurchase, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )

    class Meta(AuditEvent.Meta):
        indexes = [models.Index(fields=["purchase", "at"], name="purchase_event_idx")]

    def __str__(self) -> str:
        subject = self.purchase_id or f"ticket {self.ticket_id}"
        return f"{subject} {self.action} {self.from_status}->{self.to_status}"
