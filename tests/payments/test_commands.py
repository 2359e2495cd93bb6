from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from payments.models import Destination, Payment
from payments.seed import seed_destinations
from tests.payments.factories import gateway_calls

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("complete_stuck_payments", *args, stdout=out)
    return out.getvalue()


def statuses(*payments) -> list[str]:
    return [Payment.objects.get(pk=p.pk).status for p in payments]


@pytest.fixture
def stuck_mix(stuck_payment):
    """One of each: captured at the gateway, declined, no answer yet, never charged."""
    return {
        "captured": stuck_payment(charged_with="tok_success"),
        "declined": stuck_payment(token="tok_decline", charged_with="tok_decline"),
        "pending": stuck_payment(token="tok_pending", charged_with="tok_pending"),
        "lost": stuck_payment(token="tok_success", charged_with=None),
    }


def test_reconciles_each_stuck_payment_and_prints_what_it_did(stuck_mix, stuck_payment, gateway):
    recent = stuck_payment(minutes_ago=2)
    out = run("--minutes", "10")
    assert "4 destination payment(s) stuck in processing for more than 10 minute(s)" in out
    header = out.splitlines()[1].split()
    assert header == ["payment", "booking", "amount", "age", "gateway", "did", "status"]
    assert "settled 3, left 1" in out
    for payment in stuck_mix.values():
        assert str(payment.pk) in out
    assert str(recent.pk) not in out
    assert statuses(*stuck_mix.values(), recent) == [
        "completed",
        "failed",
        "processing",
        "completed",
        "processing",
    ]
    line = next(line for line in out.splitlines() if str(stuck_mix["lost"].pk) in line)
    assert "not_found" in line and "charge again" in line and line.rstrip().endswith("completed")
    line = next(line for line in out.splitlines() if str(stuck_mix["pending"].pk) in line)
    assert "gateway has no answer yet" in line
    assert gateway_calls(gateway, stuck_mix["lost"]) == 1


def test_dry_run_says_what_it_would_do_and_changes_nothing(stuck_mix, gateway):
    out = run("--minutes", "10", "--dry-run")
    assert "dry run: nothing changed" in out
    assert out.splitlines()[1].split()[5] == "would"
    for name, action in [
        ("captured", "confirm"),
        ("declined", "fail"),
        ("pending", "leave"),
        ("lost", "charge again"),
    ]:
        line = next(line for line in out.splitlines() if str(stuck_mix[name].pk) in line)
        assert action in line, (name, line)
    assert set(statuses(*stuck_mix.values())) == {"processing"}
    assert gateway_calls(gateway, stuck_mix["lost"]) == 0
    # ... and the real run afterwards still finds all of them.
    assert "4 destination payment(s)" in run("--minutes", "10")


def test_nothing_stuck_says_so():
    assert run("--minutes", "5").startswith("0 destination payment(s) stuck")


@pytest.mark.parametrize("args", [[], ["--minutes", "0"], ["--minutes", "-3"], ["--minutes", "x"]])
def test_bad_minutes_are_a_clear_error(args):
    with pytest.raises(CommandError, match="--minutes"):
        run(*args)


def test_a_transient_gateway_error_is_reported_and_the_rest_go_on(stuck_payment):
    failing = stuck_payment(token="tok_error", charged_with=None)
    fine = stuck_payment(charged_with="tok_success")
    out = run("--minutes", "10")
    line = next(line for line in out.splitlines() if str(failing.pk) in line)
    assert "error: simulated gateway: temporary processing error" in line
    assert line.endswith("processing")
    assert statuses(failing, fine) == ["processing", "completed"]


def test_fix_payment_flow_lists_destination_payments_too(stuck_mix):
    out = StringIO()
    call_command("fix_payment_flow", "--action", "list-stuck", stdout=out)
    assert str(stuck_mix["captured"].pk) in out.getvalue() and "destination" in out.getvalue()
    assert set(statuses(*stuck_mix.values())) == {"processing"}


def test_seeding_destinations_is_idempotent():
    assert seed_destinations() >= 3
    names = set(Destination.objects.values_list("name", flat=True))
    assert {"Zanzibar", "Serengeti", "Kilimanjaro"} <= names
    assert seed_destinations() == 0
    assert set(Destination.objects.values_list("name", flat=True)) == names


def test_seed_demo_creates_the_destinations():
    call_command("seed_demo", stdout=StringIO())
    assert Destination.objects.filter(name="Zanzibar", is_active=True).exists()
