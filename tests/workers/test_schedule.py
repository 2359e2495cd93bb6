"""The beat schedule: installed by migrate, kept by a second migrate, and run by a
real beat process whose tasks a real worker carries out."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from project.tasks import DELIVER_TASK, PROCESS_TASK, REFUND_TASK
from tests.factories import PurchaseFactory, TicketFactory
from tests.waiting import wait_until_final
from tickets.sale.purchases import purchase_reserve
from workers.celery import app
from workers.queues import DELIVERY_QUEUE, PIPELINE_QUEUE, SWEEPS_QUEUE
from workers.schedule import project_schedule, schedule_install

EXPECTED = {
    "expire-unpaid-purchases": "tickets.expire_purchases",
    "requeue-unstarted-purchases": "tickets.requeue_unstarted_purchases",
    "sweep-stuck-purchase-payments": "tickets.sweep_stuck_purchase_payments",
}


def installed() -> dict[str, str]:
    return dict(PeriodicTask.objects.values_list("name", "task"))


@pytest.mark.django_db
def test_migrate_installs_the_schedule_and_a_second_migrate_changes_nothing():
    assert EXPECTED.items() <= installed().items()
    before = list(PeriodicTask.objects.order_by("name").values("name", "task", "interval_id"))
    call_command("migrate", verbosity=0)
    after = list(PeriodicTask.objects.order_by("name").values("name", "task", "interval_id"))
    assert after == before


@pytest.mark.django_db
def test_intervals_follow_the_settings_and_admin_choices_survive(settings):
    expire = PeriodicTask.objects.get(name="expire-unpaid-purchases")
    assert expire.interval.every == settings.SWEEP_INTERVAL_SECONDS
    expire.enabled = False
    expire.save()
    settings.SWEEP_INTERVAL_SECONDS = 7
    schedule_install()
    expire.refresh_from_db()
    assert expire.interval.every == 7 and expire.enabled is False


@pytest.mark.django_db
def test_entries_the_project_no_longer_defines_are_removed_others_kept():
    from django_celery_beat.models import IntervalSchedule

    every = IntervalSchedule.objects.create(every=10, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="old-sweep", task="tickets.retired_task", interval=every)
    PeriodicTask.objects.create(name="someone-elses", task="reports.weekly", interval=every)
    schedule_install()
    assert "old-sweep" not in installed() and "someone-elses" in installed()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_beat_triggers_an_expiry_that_a_real_worker_carries_out(
    worker, start_beat, settings
):
    settings.SWEEP_INTERVAL_SECONDS = 1
    schedule_install()  # transactional tests start from empty tables
    ticket = TicketFactory(total_quantity=5)
    purchase = PurchaseFactory(ticket=ticket, quantity=3, payment_token="")
    purchase_reserve(purchase_id=purchase.pk)
    purchase.__class__.objects.filter(pk=purchase.pk).update(
        hold_expires_at=timezone.now() - timedelta(seconds=1)
    )
    beat = start_beat()
    try:
        [expired] = wait_until_final([purchase.pk], timeout=60)
    finally:
        beat.stop()
    assert expired.status == "expired"
    ticket.refresh_from_db()
    assert ticket.available_quantity == 5


@pytest.mark.django_db
def test_every_waiting_state_has_a_sweep_on_its_own_queue_that_expires_in_time(settings):
    app.loader.import_default_modules()  # the task modules a worker loads (`include`)
    sweeps = PeriodicTask.objects.filter(name__in=project_schedule())
    assert set(sweeps.values_list("task", flat=True)) >= {
        "tickets.expire_purchases",
        "tickets.requeue_unstarted_purchases",
        "tickets.requeue_undelivered_purchases",
        "tickets.finish_refunds",
        "tickets.sweep_stuck_purchase_payments",
        "payments.requeue_waiting_payments",
        "payments.sweep_stuck_payments",
        "payments.requeue_unprocessed_webhooks",
    }
    for sweep in sweeps:
        assert sweep.queue == SWEEPS_QUEUE
        assert 0 < sweep.expire_seconds <= sweep.interval.every
        assert sweep.task in app.tasks  # a worker knows every task the beat sends


def test_delivery_goes_to_its_own_queue_and_the_pipeline_to_the_default_one():
    def queue_of(task_name: str) -> str:
        return app.amqp.router.route({}, task_name)["queue"].name

    assert queue_of(DELIVER_TASK) == DELIVERY_QUEUE
    assert queue_of(PROCESS_TASK) == PIPELINE_QUEUE
    assert queue_of(REFUND_TASK) == PIPELINE_QUEUE


@pytest.mark.django_db
def test_a_charge_left_in_flight_is_asked_about_within_about_two_minutes_by_default(settings):
    # A buyer whose charge was in flight when the broker lost its queue waits for
    # the stuck-payment threshold plus at most one sweep interval.
    schedule = project_schedule()
    for name in ("sweep-stuck-purchase-payments", "sweep-stuck-destination-payments"):
        interval = schedule[name]["every"]
        assert interval == settings.STUCK_PAYMENT_SWEEP_SECONDS
        assert settings.STUCK_PAYMENT_MINUTES * 60 + interval <= 120


@pytest.mark.django_db
def test_the_stuck_payment_sweep_interval_is_a_setting(settings):
    settings.STUCK_PAYMENT_SWEEP_SECONDS = 45
    schedule_install()
    sweep = PeriodicTask.objects.get(name="sweep-stuck-purchase-payments")
    assert sweep.interval.every == 45
