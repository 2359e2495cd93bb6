"""The workers' task names: the whole contract between the ticket services and
the workers (workers/tasks.py registers its tasks under these names)."""

PROCESS_TASK = "tickets.process_purchase"
RECONCILE_TASK = "tickets.reconcile_purchase_payment"
DELIVER_TASK = "tickets.deliver_purchase"
REFUND_TASK = "tickets.finish_refund"
BATCH_TASK = "tickets.process_ticket_batch"
OFFER_MAIL_TASK = "tickets.send_waiting_list_offer"
ENTRY_MAIL_TASK = "tickets.send_waiting_list_entry"
