"""Which queue each task goes to, so periodic work never starves purchases and a
slow mail server never holds up payments. The table itself is the registry's
(project/tasks.py `QUEUE_OF`); this module hands it to Celery.

- `celery` (the default): the purchase and booking pipeline and webhooks;
- `delivery`: confirmation e-mails with their QR codes;
- `sweeps`: the beat's periodic sweeps (each expires after its interval);
- `cancellations`: the refunds of a cancelled event (tickets/cancellation/).

The Procfile's `worker` consumes `celery,sweeps,cancellations` and `mailer` consumes
`delivery`; docker-compose runs the same split.
"""

from project.tasks import DELIVERY_QUEUE, PIPELINE_QUEUE, QUEUE_OF, SWEEPS_QUEUE

__all__ = ["DELIVERY_QUEUE", "PIPELINE_QUEUE", "SWEEPS_QUEUE", "TASK_ROUTES"]

# Read when the Celery app is configured, before Django's models are loaded:
# project/tasks.py imports nothing.
TASK_ROUTES = {name: {"queue": queue} for name, queue in QUEUE_OF.items()}
