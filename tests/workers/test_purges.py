"""Retention: beat purges processed webhook events after WEBHOOK_EVENT_RETENTION_DAYS,
idempotency keys after their TTL and waiting-list entries never confirmed, on the
sweeps queue, in bounded batches."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from gateways import webhooks
from gateways.models import WebhookEvent
from gateways.webhooks import webhook_events_purge
from workers.celery import app
from workers.queues import SWEEPS_QUEUE
from workers.schedule import project_schedule
from workers.webhook_tasks import purge_webhook_events

pytestmark = pytest.mark.django_db


def events(count: int, *, days_old: float, processed: bool) -> None:
    prefix = f"evt-{days_old}-{processed}-"
    WebhookEvent.objects.bulk_create(
        WebhookEvent(gateway="simulated", event_id=f"{prefix}{n}", payload={}) for n in range(count)
    )
    at = timezone.now() - timedelta(days=days_old)
    WebhookEvent.objects.filter(event_id__startswith=prefix).update(
        received_at=at, processed_at=at if processed else None
    )


def test_processed_events_past_retention_are_purged_in_batches(monkeypatch, settings):
    settings.WEBHOOK_EVENT_RETENTION_DAYS = 30
    monkeypatch.setattr(webhooks, "PURGE_BATCH_SIZE", 2)
    events(5, days_old=31, processed=True)
    events(1, days_old=31, processed=False)  # still waiting for its sweep: kept
    events(2, days_old=29, processed=True)
    assert webhook_events_purge() == 5
    assert WebhookEvent.objects.count() == 3
    assert not WebhookEvent.objects.filter(
        processed_at__isnull=False, received_at__lt=timezone.now() - timedelta(days=30)
    ).exists()


def test_the_retention_is_a_setting(settings):
    settings.WEBHOOK_EVENT_RETENTION_DAYS = 7
    events(1, days_old=8, processed=True)
    assert purge_webhook_events() == 1  # the task body, run in this process


def test_the_purges_are_on_the_beat_schedule_in_the_sweeps_queue():
    app.loader.import_default_modules()
    wanted = {
        "tickets.purge_idempotency_keys",
        "tickets.purge_unconfirmed_waiting_entries",
        "payments.purge_webhook_events",
    }
    scheduled = {entry["task"]: entry for entry in project_schedule().values()}
    assert wanted <= set(scheduled)
    for task in PeriodicTask.objects.filter(task__in=wanted):
        assert task.queue == SWEEPS_QUEUE
        assert 0 < task.expire_seconds <= task.interval.every == 3600
        assert task.task in app.tasks
    assert PeriodicTask.objects.filter(task__in=wanted).count() == 3


def test_one_run_deletes_at_most_its_batches_and_the_next_run_goes_on(monkeypatch):
    monkeypatch.setattr(webhooks, "PURGE_BATCH_SIZE", 2)
    monkeypatch.setattr(webhooks, "PURGE_MAX_BATCHES", 2)
    events(5, days_old=60, processed=True)
    assert webhook_events_purge() == 4
    assert webhook_events_purge() == 1
    assert not WebhookEvent.objects.exists()
