import pytest
from django_celery_beat.models import PeriodicTask

from workers.celery import app

pytestmark = pytest.mark.django_db


def test_migrate_installs_the_destination_sweep_every_sweep_interval(settings):
    entry = PeriodicTask.objects.select_related("interval").get(
        name="sweep-stuck-destination-payments"
    )
    assert entry.task == "payments.sweep_stuck_payments" and entry.enabled
    every = (entry.interval.every, entry.interval.period)
    assert every == (settings.STUCK_PAYMENT_SWEEP_SECONDS, "seconds")


def test_a_worker_knows_every_booking_task():
    app.loader.import_default_modules()
    names = ("process_payment", "reconcile_payment", "sweep_stuck_payments")
    assert {f"payments.{name}" for name in names} <= set(app.tasks)
