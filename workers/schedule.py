"""The beat schedule, installed into django-celery-beat's tables after every
`migrate` (post_migrate), so a fresh database is never without it.

Intervals follow the settings (SWEEP_INTERVAL_SECONDS, ...) on every install;
whatever else an admin changes (enabling, disabling, arguments) is kept.
Entries for this project's tasks that the schedule no longer defines are removed.
"""

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

MANAGED_TASK_PREFIXES = ("tickets.", "payments.")


def project_schedule() -> dict[str, dict]:
    return {
        "expire-unpaid-purchases": {
            "task": "tickets.expire_purchases",
            "every": settings.SWEEP_INTERVAL_SECONDS,
        },
        "requeue-unstarted-purchases": {
            "task": "tickets.requeue_unstarted_purchases",
            "every": settings.SWEEP_INTERVAL_SECONDS,
        },
        "sweep-stuck-purchase-payments": {
            "task": "tickets.sweep_stuck_purchase_payments",
            "every": 300,
        },
        "sweep-stuck-destination-payments": {
            "task": "payments.sweep_stuck_payments",
            "every": 300,
        },
    }


def schedule_install(**kwargs) -> None:
    schedule = project_schedule()
    with transaction.atomic():
        for name, entry in schedule.items():
            interval, _ = IntervalSchedule.objects.get_or_create(
                every=entry["every"], period=IntervalSchedule.SECONDS
            )
            task = PeriodicTask.objects.filter(name=name).first()
            if task is None:
                PeriodicTask.objects.create(name=name, task=entry["task"], interval=interval)
            elif task.task != entry["task"] or task.interval_id != interval.id:
                task.task = entry["task"]
                task.interval = interval
                task.save()
        for task in PeriodicTask.objects.exclude(name__in=schedule):
            if task.task.startswith(MANAGED_TASK_PREFIXES):
                task.delete()
