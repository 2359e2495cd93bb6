"""Which queue each task goes to, so periodic work never starves purchases and a
slow mail server never holds up payments.

- `celery` (the default): the purchase and booking pipeline and webhooks;
- `delivery`: confirmation e-mails with their QR codes;
- `sweeps`: the beat's periodic sweeps (each expires after its interval).

The Procfile's `worker` consumes `celery,sweeps` and `mailer` consumes
`delivery`; docker-compose runs the same split.
"""

PIPELINE_QUEUE = "celery"
DELIVERY_QUEUE = "delivery"
SWEEPS_QUEUE = "sweeps"

# Read when the Celery app is configured, before Django's models are loaded: the
# name is spelled out (project.tasks.DELIVER_TASK; a test holds them equal).
TASK_ROUTES = {
    "tickets.deliver_purchase": {"queue": DELIVERY_QUEUE},
    "tickets.deliver_batch": {"queue": DELIVERY_QUEUE},
    "tickets.send_waiting_list_offer": {"queue": DELIVERY_QUEUE},
    "tickets.send_waiting_list_entry": {"queue": DELIVERY_QUEUE},
}
