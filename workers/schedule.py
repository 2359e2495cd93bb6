"""The beat schedule, installed into django-celery-beat's tables after every
`migrate` (post_migrate), so a fresh database is never without it.

Intervals follow the settings (SWEEP_INTERVAL_SECONDS, ...) on every install;
whatever else an admin changes (enabling, disabling, arguments) is kept.
Entries for this project's tasks that the schedule no longer defines are removed.

Every sweep goes to the `sweeps` queue and expires after its own interval: a
sweep that could not run in time is dropped rather than piling up behind
purchases (the next one does the same work).
"""

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from project import tasks
from project.tasks import SWEEPS_QUEUE

MANAGED_TASK_PREFIXES = ("tickets.", "payments.")
# Retention purges: hourly is plenty against limits counted in hours and days.
PURGE_INTERVAL_SECONDS = 3600


def project_schedule() -> dict[str, dict]:
    often = settings.SWEEP_INTERVAL_SECONDS
    return {
        "expire-unpaid-purchases": {"task": tasks.EXPIRE_PURCHASES_TASK, "every": often},
        "requeue-unstarted-purchases": {
            "task": tasks.REQUEUE_UNSTARTED_PURCHASES_TASK,
            "every": often,
        },
        "requeue-undelivered-purchases": {
            "task": tasks.REQUEUE_UNDELIVERED_PURCHASES_TASK,
            "every": often,
        },
        "finish-interrupted-refunds": {"task": tasks.FINISH_REFUNDS_TASK, "every": often},
        "lapse-waiting-list-offers": {"task": tasks.LAPSE_OFFERS_TASK, "every": often},
        "resume-event-cancellations": {"task": tasks.RESUME_CANCELLATIONS_TASK, "every": often},
        "requeue-waiting-destination-payments": {
            "task": tasks.REQUEUE_WAITING_BOOKINGS_TASK,
            "every": often,
        },
        "finish-interrupted-destination-refunds": {
            "task": tasks.FINISH_BOOKING_REFUNDS_TASK,
            "every": often,
        },
        "requeue-unprocessed-webhooks": {
            "task": tasks.REQUEUE_UNPROCESSED_WEBHOOKS_TASK,
            "every": often,
        },
        "sweep-stuck-purchase-payments": {
            "task": tasks.SWEEP_STUCK_PURCHASE_PAYMENTS_TASK,
            "every": settings.STUCK_PAYMENT_SWEEP_SECONDS,
        },
        "sweep-stuck-destination-payments": {
            "task": tasks.SWEEP_STUCK_BOOKING_PAYMENTS_TASK,
            "every": settings.STUCK_PAYMENT_SWEEP_SECONDS,
        },
        "audit-inventory": {"task": tasks.AUDIT_INVENTORY_TASK, "every": often},
        "purge-expired-idempotency-keys": {
            "task": tasks.PURGE_IDEMPOTENCY_KEYS_TASK,
            "every": PURGE_INTERVAL_SECONDS,
        },
        "purge-unconfirmed-waiting-entries": {
            "task": tasks.PURGE_UNCONFIRMED_ENTRIES_TASK,
            "every": PURGE_INTERVAL_SECONDS,
        },
        "purge-old-webhook-events": {
            "task": tasks.PURGE_WEBHOOK_EVENTS_TASK,
            "every": PURGE_INTERVAL_SECONDS,
        },
    }


def schedule_install(**kwargs) -> None:
    schedule = project_schedule()
    with transaction.atomic():
        for name, entry in schedule.items():
            _install(name, entry)
        for task in PeriodicTask.objects.exclude(name__in=schedule):
            if task.task.startswith(MANAGED_TASK_PREFIXES):
                task.delete()


def _install(name: str, entry: dict) -> None:
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=entry["every"], period=IntervalSchedule.SECONDS
    )
    wanted = {
        "task": entry["task"],
        "interval": interval,
        "queue": SWEEPS_QUEUE,
        "expire_seconds": entry["every"],
    }
    task = PeriodicTask.objects.filter(name=name).first()
    if task is None:
        PeriodicTask.objects.create(name=name, **wanted)
    elif any(getattr(task, field) != value for field, value in wanted.items()):
        for field, value in wanted.items():
            setattr(task, field, value)
        task.save()
