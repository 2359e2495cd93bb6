"""Every task name the project sends or schedules, in one registry on the lowest
floor: services (tickets, payments, gateways) ask for work by these constants
(`enqueue_on_commit(PROCESS_TASK, ...)`), the workers register their tasks
under the same constants, `workers/queues.py` builds its routes from `QUEUE_OF`
and `workers/schedule.py` names its sweeps from here. Jump-to-definition lands
here from any of them; tests/workers/test_task_names.py holds every name
registered by the worker and routed to a queue.

The strings are stable: a message already queued under a name must still find
its worker after a deploy, so a name is added, never renamed in place.
"""

# Queues: the pipeline never waits behind periodic work, nor payments behind a
# slow mail server. The Procfile's `worker` consumes `celery,sweeps,cancellations`, `mailer`
# consumes `delivery`; docker-compose runs the same split.
PIPELINE_QUEUE = "celery"
DELIVERY_QUEUE = "delivery"
SWEEPS_QUEUE = "sweeps"
# An event's refunds (tickets/cancellation/): thousands at once never hold up a
# sale of another event. The Procfile's `worker` consumes it too.
CANCELLATIONS_QUEUE = "cancellations"

# --- Ticket purchases (tickets/) --------------------------------------------------------
PROCESS_TASK = "tickets.process_purchase"
BATCH_TASK = "tickets.process_ticket_batch"
RECONCILE_TASK = "tickets.reconcile_purchase_payment"
REFUND_TASK = "tickets.finish_refund"
DELIVER_TASK = "tickets.deliver_purchase"
DELIVER_BATCH_TASK = "tickets.deliver_batch"
OFFER_MAIL_TASK = "tickets.send_waiting_list_offer"
ENTRY_MAIL_TASK = "tickets.send_waiting_list_entry"
REFUND_MAIL_TASK = "tickets.send_refund_notice"
CANCELLATION_REFUND_TASK = "tickets.refund_for_cancelled_event"
CANCELLED_ENTRY_MAIL_TASK = "tickets.send_waiting_list_cancelled"

# --- Destination bookings (payments/) and gateway callbacks (gateways/) -----------------
BOOKING_PROCESS_TASK = "payments.process_payment"
BOOKING_RECONCILE_TASK = "payments.reconcile_payment"
BOOKING_REFUND_TASK = "payments.finish_refund"
WEBHOOK_EVENT_TASK = "payments.process_webhook_event"

# --- The beat's sweeps (workers/schedule.py) --------------------------------------------
EXPIRE_PURCHASES_TASK = "tickets.expire_purchases"
REQUEUE_UNSTARTED_PURCHASES_TASK = "tickets.requeue_unstarted_purchases"
REQUEUE_UNDELIVERED_PURCHASES_TASK = "tickets.requeue_undelivered_purchases"
FINISH_REFUNDS_TASK = "tickets.finish_refunds"
LAPSE_OFFERS_TASK = "tickets.lapse_waiting_list_offers"
SWEEP_STUCK_PURCHASE_PAYMENTS_TASK = "tickets.sweep_stuck_purchase_payments"
PURGE_IDEMPOTENCY_KEYS_TASK = "tickets.purge_idempotency_keys"
PURGE_UNCONFIRMED_ENTRIES_TASK = "tickets.purge_unconfirmed_waiting_entries"
REQUEUE_WAITING_BOOKINGS_TASK = "payments.requeue_waiting_payments"
SWEEP_STUCK_BOOKING_PAYMENTS_TASK = "payments.sweep_stuck_payments"
REQUEUE_UNPROCESSED_WEBHOOKS_TASK = "payments.requeue_unprocessed_webhooks"
PURGE_WEBHOOK_EVENTS_TASK = "payments.purge_webhook_events"
FINISH_BOOKING_REFUNDS_TASK = "payments.finish_refunds"
RESUME_CANCELLATIONS_TASK = "tickets.resume_event_cancellations"
# Not a sweep that moves rows: the inventory equation's check, for the metrics page.
AUDIT_INVENTORY_TASK = "tickets.audit_inventory"

# --- The workers' own ---------------------------------------------------------------------
PING_TASK = "workers.ping"  # health checks: a worker that answers is consuming

SWEEPS = (
    EXPIRE_PURCHASES_TASK,
    REQUEUE_UNSTARTED_PURCHASES_TASK,
    REQUEUE_UNDELIVERED_PURCHASES_TASK,
    FINISH_REFUNDS_TASK,
    LAPSE_OFFERS_TASK,
    SWEEP_STUCK_PURCHASE_PAYMENTS_TASK,
    PURGE_IDEMPOTENCY_KEYS_TASK,
    PURGE_UNCONFIRMED_ENTRIES_TASK,
    REQUEUE_WAITING_BOOKINGS_TASK,
    SWEEP_STUCK_BOOKING_PAYMENTS_TASK,
    REQUEUE_UNPROCESSED_WEBHOOKS_TASK,
    PURGE_WEBHOOK_EVENTS_TASK,
    FINISH_BOOKING_REFUNDS_TASK,
    RESUME_CANCELLATIONS_TASK,
    AUDIT_INVENTORY_TASK,
)
DELIVERIES = (
    DELIVER_TASK,
    DELIVER_BATCH_TASK,
    OFFER_MAIL_TASK,
    ENTRY_MAIL_TASK,
    REFUND_MAIL_TASK,
    CANCELLED_ENTRY_MAIL_TASK,
)
PIPELINE = (
    PROCESS_TASK,
    BATCH_TASK,
    RECONCILE_TASK,
    REFUND_TASK,
    BOOKING_PROCESS_TASK,
    BOOKING_RECONCILE_TASK,
    BOOKING_REFUND_TASK,
    WEBHOOK_EVENT_TASK,
    PING_TASK,
)

# The queue of every task name: the one routing table.
QUEUE_OF = {
    **{name: PIPELINE_QUEUE for name in PIPELINE},
    **{name: DELIVERY_QUEUE for name in DELIVERIES},
    **{name: SWEEPS_QUEUE for name in SWEEPS},
    CANCELLATION_REFUND_TASK: CANCELLATIONS_QUEUE,
}
