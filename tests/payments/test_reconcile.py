"""Reconciling a payment stuck in processing with the gateway's real outcome,
for each outcome the simulated gateway can give, and the sweep that finds them."""

import logging
import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from gateways import Outcome, TransientGatewayError
from gateways.attempt import Action
from payments import selectors, services
from payments.models import Payment
from project.tasks import BOOKING_PROCESS_TASK, BOOKING_RECONCILE_TASK
from tests.payments.factories import gateway_calls, payment_of
from workers import payment_tasks

pytestmark = pytest.mark.django_db


def reconcile(payment: Payment) -> services.Reconciliation:
    return services.payment_reconcile(payment_id=payment.pk)


# --- each gateway outcome ------------------------------------------------------------------


def test_captured_at_the_gateway_completes_and_confirms(stuck_payment, gateway):
    payment = stuck_payment(charged_with="tok_success")
    done = reconcile(payment)
    assert (done.outcome, done.action, done.payment.status) == (
        Outcome.CAPTURED,
        Action.CONFIRM,
        "completed",
    )
    assert done.payment.booking.status == "confirmed"
    assert done.payment.gateway_reference.startswith("sim_")
    again = reconcile(payment)
    assert again.payment.status == "completed" and again.action == Action.NOTHING
    assert gateway.captures(str(payment.pk)) == 1


def test_declined_at_the_gateway_fails_the_booking(stuck_payment):
    payment = stuck_payment(token="tok_decline", charged_with="tok_decline")
    done = reconcile(payment)
    assert (done.outcome, done.payment.status) == (Outcome.DECLINED, "failed")
    booking = Payment.objects.get(pk=payment.pk).booking
    assert (booking.status, booking.failure_reason) == ("failed", "payment_declined")
    assert reconcile(payment).action == Action.NOTHING


def test_no_answer_yet_is_left_processing_and_logged(stuck_payment, caplog):
    payment = stuck_payment(token="tok_pending", charged_with="tok_pending")
    with caplog.at_level(logging.INFO, logger="payments.services"):
        done = reconcile(payment)
    assert (done.outcome, done.action, done.payment.status) == (
        Outcome.PENDING,
        Action.WAIT,
        "processing",
    )
    assert str(payment.pk) in caplog.text and "left processing" in caplog.text
    assert Payment.objects.get(pk=payment.pk).booking.status == "pending"


def test_an_answer_that_has_since_settled_completes(stuck_payment, settings):
    settings.SIMULATED_PENDING_SETTLE_SECONDS = 0
    payment = stuck_payment(token="tok_pending", charged_with="tok_pending")
    done = reconcile(payment)
    assert (done.outcome, done.payment.status) == (Outcome.CAPTURED, "completed")


def test_a_pending_answer_settles_once_its_time_has_passed(stuck_payment):
    payment = stuck_payment(token="tok_pending", charged_with="tok_pending")
    assert reconcile(payment).payment.status == "processing"
    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        assert reconcile(payment).payment.status == "completed"


def test_a_charge_that_never_reached_the_gateway_is_taken_again_once(stuck_payment, gateway):
    payment = stuck_payment(token="tok_success", charged_with=None)
    done = reconcile(payment)
    assert (done.outcome, done.action, done.payment.status) == (
        Outcome.NOT_FOUND,
        Action.CHARGE_AGAIN,
        "completed",
    )
    reconcile(payment)
    assert gateway_calls(gateway, payment) == 1 and gateway.captures(str(payment.pk)) == 1


def test_not_found_without_a_token_waits(stuck_payment, gateway):
    payment = stuck_payment(token="", charged_with=None)
    done = reconcile(payment)
    assert (done.action, done.payment.status) == (Action.WAIT, "processing")
    assert gateway_calls(gateway, payment) == 0


def test_a_transient_error_while_charging_again_leaves_it_processing(stuck_payment):
    payment = stuck_payment(token="tok_error", charged_with=None)
    with pytest.raises(TransientGatewayError):
        reconcile(payment)
    assert Payment.objects.get(pk=payment.pk).status == "processing"


def test_money_captured_after_the_payment_failed_is_given_back(stuck_payment, gateway):
    payment = stuck_payment(charged_with="tok_success")
    services.payment_fail(payment_id=payment.pk, reason="payment_error")
    done = reconcile(payment)
    # Recorded on the payment (refunded, why), the booking left failed.
    assert (done.action, done.payment.status) == (Action.REFUND, "refunded")
    assert done.payment.refund_reason == "captured_after_failed"
    assert done.payment.booking.status == "failed"
    assert gateway.lookup(idempotency_key=str(payment.pk)).outcome == Outcome.REFUNDED
    assert reconcile(payment).action == Action.NOTHING


def test_the_plan_changes_nothing(stuck_payment, gateway):
    payment = stuck_payment(token="tok_success", charged_with=None)
    plan = services.payment_reconcile_plan(payment_id=payment.pk)
    assert plan.action == Action.CHARGE_AGAIN
    assert Payment.objects.get(pk=payment.pk).status == "processing"
    assert gateway_calls(gateway, payment) == 0


# --- finding and claiming stuck payments ---------------------------------------------------


def test_stuck_means_processing_for_longer_than_the_limit(stuck_payment):
    old = stuck_payment(minutes_ago=30)
    stuck_payment(minutes_ago=5)
    payment_of()  # pending, never started
    done = stuck_payment(minutes_ago=60)
    services.payment_complete(payment_id=done.pk, gateway_reference="ref")
    assert list(selectors.payments_stuck(older_than_minutes=10)) == [old]


def test_claims_come_in_bounded_batches_and_are_not_taken_twice(stuck_payment):
    stuck = {stuck_payment().pk for _ in range(5)}
    first = services.payments_claim_stuck(older_than_minutes=10, batch_size=2)
    second = services.payments_claim_stuck(older_than_minutes=10, batch_size=2)
    third = services.payments_claim_stuck(older_than_minutes=10, batch_size=2)
    assert (len(first), len(second), len(third)) == (2, 2, 1)
    assert set(first) | set(second) | set(third) == stuck
    assert services.payments_claim_stuck(older_than_minutes=10) == []
    # A claimed payment the reconcile did not settle is stuck again after the limit.
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        assert set(services.payments_claim_stuck(older_than_minutes=10)) == stuck


def test_a_claim_needs_a_positive_age():
    with pytest.raises(ValueError):
        services.payments_claim_stuck(older_than_minutes=0)


def test_sweep_task_hands_each_stuck_payment_to_reconciliation_once(
    published, stuck_payment, django_capture_on_commit_callbacks, settings
):
    settings.STUCK_PAYMENT_MINUTES = 10
    stuck = [stuck_payment(minutes_ago=11 + n) for n in range(3)]
    stuck_payment(minutes_ago=2)
    with django_capture_on_commit_callbacks(execute=True):
        assert payment_tasks.sweep_stuck_payments() == 3
    # oldest first
    assert published.ids(BOOKING_RECONCILE_TASK) == [str(p.pk) for p in reversed(stuck)]
    assert payment_tasks.sweep_stuck_payments() == 0


def test_sweep_goes_through_every_batch(
    published, stuck_payment, django_capture_on_commit_callbacks
):
    for _ in range(7):
        stuck_payment()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.payments_sweep_stuck(older_than_minutes=10, batch_size=3) == 7
    assert len(set(published.ids(BOOKING_RECONCILE_TASK))) == 7


def test_reconcile_task_applies_the_outcome(stuck_payment):
    payment = stuck_payment(charged_with="tok_success")
    assert payment_tasks.reconcile_payment.run(str(payment.pk)) == "completed"
    assert payment_tasks.reconcile_payment.run(str(payment.pk)) == "completed"


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_never_take_the_same_payment(published, stuck_payment):
    stuck = {stuck_payment().pk for _ in range(30)}
    start = threading.Barrier(2)
    errors = []

    def sweep():
        try:
            start.wait()
            services.payments_sweep_stuck(older_than_minutes=10, batch_size=4)
        except Exception as exc:  # surfaced below: a sweep must never crash
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    taken = published.ids(BOOKING_RECONCILE_TASK)
    assert sorted(taken) == sorted(str(pk) for pk in stuck)  # every one taken, none twice


def test_a_payment_without_a_token_settled_at_the_gateway_completes(gateway):
    payment = payment_of(payment__payment_token="", payment__method="bank_transfer")
    assert reconcile(payment).action == Action.WAIT
    gateway.record(
        idempotency_key=str(payment.pk), amount=payment.amount, currency="USD", succeed=True
    )
    done = reconcile(payment)
    assert (done.payment.status, done.payment.booking.status) == ("completed", "confirmed")


def test_a_tokened_booking_whose_charge_never_began_is_sent_again(
    published, django_capture_on_commit_callbacks, settings
):
    payment = payment_of(payment__payment_token="tok_success")
    assert services.payments_requeue_waiting() == 0  # its task may still be queued
    later = timezone.now() + timedelta(seconds=settings.REQUEUE_AFTER_SECONDS + 1)
    with time_machine.travel(later), django_capture_on_commit_callbacks(execute=True):
        assert services.payments_requeue_waiting() == 1
        assert services.payments_requeue_waiting() == 0
    assert published.ids(BOOKING_PROCESS_TASK) == [str(payment.pk)]
