"""The Stripe adapter maps every answer Stripe gives, played by a fake
`stripe.HTTPClient` with recorded responses: the intent is recorded before it
is confirmed, a lost reply is resolved by retrieving it (never a second
intent), and refunds are keyed and looked up on their own."""

from decimal import Decimal

import pytest

from gateways import ChargeRequest, Outcome, RefundOutcome, TransientGatewayError
from gateways.models import StripeCharge, StripeRefund
from gateways.stripe import StripeGateway
from gateways.stripe.client import minor_units, stripe_client
from tests.gateways import stripe_fakes as fake
from tests.gateways.stripe_fakes import INTENT_ID, REFUND_ID, RecordedStripe

KEY = "6b1f3f5e-6a43-4f57-9d5e-0f6f1b2a3c4d"
CREATE = ("POST", "/v1/payment_intents")
RETRIEVE = ("GET", f"/v1/payment_intents/{INTENT_ID}")
CONFIRM = ("POST", f"/v1/payment_intents/{INTENT_ID}/confirm")
REFUNDS = ("POST", "/v1/refunds")
REFUND = ("GET", f"/v1/refunds/{REFUND_ID}")


@pytest.fixture(autouse=True)
def stripe_settings(settings):
    settings.PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    settings.STRIPE_API_BASE = ""
    settings.STRIPE_MAX_NETWORK_RETRIES = 0


def gateway(**routes) -> tuple[StripeGateway, RecordedStripe]:
    http = RecordedStripe(routes.pop("table", {}))
    return StripeGateway(client=stripe_client(http_client=http)), http


def charge(gw: StripeGateway, *, amount="50.00", currency="USD", token="pm_card_visa"):
    return gw.charge(idempotency_key=KEY, amount=Decimal(amount), currency=currency, token=token)


def charging(*confirm_replies, created=None) -> dict:
    """Routes of a fresh charge: create, confirm (and a retrieve, not yet confirmed)."""
    return {
        CREATE: [created or fake.intent("requires_confirmation")],
        RETRIEVE: [fake.intent("requires_confirmation")],
        CONFIRM: list(confirm_replies),
    }


# --- charges -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_card_that_succeeds_is_captured_with_the_intent_recorded_before_confirming():
    seen_at_confirm = []

    def confirm():
        seen_at_confirm.append(StripeCharge.objects.filter(key=KEY).exists())
        return fake.intent("succeeded")

    gw, http = gateway(table=charging(confirm))
    result = charge(gw, amount="50.00", currency="USD")

    assert (result.outcome, result.reference) == (Outcome.CAPTURED, INTENT_ID)
    assert seen_at_confirm == [True]  # recorded (committed) before the confirm call
    create = http.calls[0]
    assert create[2] == f"{KEY}:create"  # an idempotency key per attempt
    assert create[3]["amount"] == ["5000"] and create[3]["currency"] == ["usd"]
    assert create[3]["payment_method"] == ["pm_card_visa"]
    assert create[3]["metadata[idempotency_key]"] == [KEY]
    assert create[3]["payment_method_types[0]"] == ["card"]
    assert http.calls[-1][2] == f"{KEY}:confirm"


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("12.34", "USD", 1234),
        ("5000", "JPY", 5000),
        ("15000", "KRW", 15000),
        ("20000", "UGX", 20000),
        ("3000", "RWF", 3000),
        ("1.234", "KWD", 1230),  # three decimals, last digit 0 as Stripe wants
        ("0.50", "eur", 50),
    ],
)
def test_amounts_are_in_the_currency_minor_units(amount, currency, minor):
    assert minor_units(Decimal(amount), currency) == minor


@pytest.mark.django_db
def test_a_zero_decimal_currency_is_charged_in_whole_units():
    gw, http = gateway(table=charging(fake.intent("succeeded")))
    charge(gw, amount="5000", currency="JPY")
    assert http.calls[0][3]["amount"] == ["5000"] and http.calls[0][3]["currency"] == ["jpy"]


@pytest.mark.django_db
def test_a_card_decline_keeps_stripes_decline_code():
    gw, _ = gateway(table=charging(fake.card_declined("insufficient_funds")))
    result = charge(gw)
    assert (result.outcome, result.reason) == (Outcome.DECLINED, "insufficient_funds")


@pytest.mark.django_db
def test_processing_is_pending_for_the_sweep():
    gw, _ = gateway(table=charging(fake.intent("processing")))
    assert charge(gw).outcome == Outcome.PENDING


@pytest.mark.django_db
def test_requires_action_carries_the_client_secret():
    gw, _ = gateway(table=charging(fake.intent("requires_action")))
    result = charge(gw)
    assert result.outcome == Outcome.REQUIRES_ACTION
    assert result.client_secret == fake.CLIENT_SECRET


@pytest.mark.django_db
@pytest.mark.parametrize(
    "failure",
    [fake.timeout, lambda: fake.api_error(429), lambda: fake.api_error(500)],
    ids=["timeout", "429", "500"],
)
def test_connection_errors_rate_limits_and_5xx_are_transient(failure):
    gw, _ = gateway(table=charging(failure))
    with pytest.raises(TransientGatewayError):
        charge(gw)


@pytest.mark.django_db
def test_a_lost_reply_is_resolved_by_retrieving_the_intent_never_by_a_second_one():
    gw, http = gateway(
        table={
            CREATE: [fake.intent("requires_confirmation")],
            RETRIEVE: [fake.intent("succeeded")],  # the confirm went through after all
            CONFIRM: [fake.timeout()],
        }
    )
    with pytest.raises(TransientGatewayError):
        charge(gw)

    assert gw.lookup(idempotency_key=KEY).outcome == Outcome.CAPTURED
    assert charge(gw).outcome == Outcome.CAPTURED  # the task's retry
    assert http.paths().count(CREATE) == 1
    assert http.paths().count(CONFIRM) == 1
    assert not any("search" in path for _, path in http.paths())


@pytest.mark.django_db
def test_a_retry_after_a_crash_between_create_and_confirm_confirms_the_same_intent():
    StripeCharge.objects.create(key=KEY, intent_id=INTENT_ID)
    gw, http = gateway(
        table={
            RETRIEVE: [fake.intent("requires_confirmation")],
            CONFIRM: [fake.intent("succeeded")],
        }
    )
    assert gw.lookup(idempotency_key=KEY).outcome == Outcome.NOT_FOUND  # nothing charged yet
    assert charge(gw).outcome == Outcome.CAPTURED
    assert CREATE not in http.paths()


@pytest.mark.django_db
def test_a_key_never_charged_is_not_found_without_asking_stripe():
    gw, http = gateway()
    assert gw.lookup(idempotency_key=KEY).outcome == Outcome.NOT_FOUND
    assert http.calls == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "extra", "outcome", "reason"),
    [
        ("canceled", {"cancellation_reason": "abandoned"}, Outcome.DECLINED, "canceled:abandoned"),
        (
            "requires_payment_method",
            {"last_payment_error": {"code": "payment_intent_authentication_failure"}},
            Outcome.DECLINED,
            "payment_intent_authentication_failure",
        ),
        ("requires_action", {}, Outcome.REQUIRES_ACTION, ""),
        ("processing", {}, Outcome.PENDING, ""),
    ],
)
def test_a_lookup_maps_the_intents_status(status, extra, outcome, reason):
    StripeCharge.objects.create(key=KEY, intent_id=INTENT_ID)
    gw, _ = gateway(table={RETRIEVE: [fake.intent(status, **extra)]})
    result = gw.lookup(idempotency_key=KEY)
    assert (result.outcome, result.reason) == (outcome, reason)


@pytest.mark.django_db
def test_a_token_that_is_not_a_payment_method_is_declined_without_a_call():
    gw, http = gateway()
    result = charge(gw, token="tok_success")
    assert (result.outcome, result.reason) == (Outcome.DECLINED, "invalid_payment_method")
    assert http.calls == []


@pytest.mark.django_db
def test_the_sdk_retries_a_5xx_itself_under_the_same_idempotency_key(settings):
    settings.STRIPE_MAX_NETWORK_RETRIES = 1
    gw, http = gateway(table=charging(fake.api_error(500), fake.intent("succeeded")))
    assert charge(gw).outcome == Outcome.CAPTURED
    confirms = [call for call in http.calls if (call[0], call[1]) == CONFIRM]
    assert [call[2] for call in confirms] == [f"{KEY}:confirm"] * 2


@pytest.mark.django_db(transaction=True)
def test_a_batch_runs_its_charges_on_a_few_threads_and_answers_in_order(settings):
    settings.STRIPE_BATCH_CONCURRENCY = 4
    http = RecordedStripe({})
    routes = {}
    for n in range(6):
        pi = f"pi_batch{n}"
        outcome = fake.card_declined() if n == 2 else fake.intent("succeeded", id=pi)
        routes[("GET", f"/v1/payment_intents/{pi}")] = [fake.intent("requires_confirmation", id=pi)]
        routes[("POST", f"/v1/payment_intents/{pi}/confirm")] = [
            fake.timeout() if n == 4 else outcome
        ]
        StripeCharge.objects.create(key=f"key-{n}", intent_id=pi)
    http.routes = routes
    gw = StripeGateway(client=stripe_client(http_client=http))

    answers = gw.charge_batch(
        [ChargeRequest(f"key-{n}", Decimal("10"), "USD", "pm_card_visa") for n in range(6)]
    )

    kinds = ["transient" if isinstance(a, TransientGatewayError) else a.outcome for a in answers]
    assert kinds == ["captured", "captured", "declined", "captured", "transient", "captured"]
    assert [a.reference for a in answers if not isinstance(a, Exception)][:2] == [
        "pi_batch0",
        "pi_batch1",
    ]


# --- refunds -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_refund_has_its_own_key_and_a_pending_one_is_settled_by_its_lookup():
    StripeCharge.objects.create(key=KEY, intent_id=INTENT_ID)
    gw, http = gateway(
        table={
            RETRIEVE: [fake.intent("succeeded")],
            REFUNDS: [fake.refund("pending")],
            REFUND: [fake.refund("pending"), fake.refund("succeeded")],
        }
    )
    result = gw.refund(idempotency_key=f"{KEY}:refund", charge_key=KEY, amount=Decimal("50.00"))

    assert (result.outcome, result.reference) == (RefundOutcome.PENDING, REFUND_ID)
    create = next(call for call in http.calls if (call[0], call[1]) == REFUNDS)
    assert create[2] == f"{KEY}:refund"
    assert create[3]["payment_intent"] == [INTENT_ID] and create[3]["amount"] == ["5000"]
    assert StripeRefund.objects.get().refund_id == REFUND_ID

    assert gw.lookup_refund(idempotency_key=f"{KEY}:refund").outcome == RefundOutcome.PENDING
    assert gw.lookup_refund(idempotency_key=f"{KEY}:refund").outcome == RefundOutcome.REFUNDED
    assert gw.lookup(idempotency_key=KEY).outcome == Outcome.REFUNDED
    assert http.paths().count(REFUNDS) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["failed", "canceled"])
def test_a_failed_or_canceled_refund_refunded_nothing(status):
    StripeCharge.objects.create(key=KEY, intent_id=INTENT_ID)
    gw, _ = gateway(table={RETRIEVE: [fake.intent("succeeded")], REFUNDS: [fake.refund(status)]})
    result = gw.refund(idempotency_key=f"{KEY}:refund", charge_key=KEY, amount=Decimal("50"))
    assert result.outcome == RefundOutcome.NOT_REFUNDED
    assert result.reason == ("expired_or_canceled_card" if status == "failed" else "canceled")


@pytest.mark.django_db
def test_a_refund_whose_reply_is_lost_is_unknown_not_refused():
    StripeCharge.objects.create(key=KEY, intent_id=INTENT_ID)
    gw, _ = gateway(table={RETRIEVE: [fake.intent("succeeded")], REFUNDS: [fake.timeout()]})
    with pytest.raises(TransientGatewayError):
        gw.refund(idempotency_key=f"{KEY}:refund", charge_key=KEY, amount=Decimal("50"))
    assert gw.lookup_refund(idempotency_key=f"{KEY}:refund") is None  # asked again, same key


@pytest.mark.django_db
def test_nothing_is_refunded_where_nothing_was_charged():
    gw, http = gateway()
    result = gw.refund(idempotency_key=f"{KEY}:refund", charge_key=KEY, amount=Decimal("5"))
    assert (result.outcome, result.reason) == (RefundOutcome.NOT_REFUNDED, "nothing_to_refund")
    assert http.calls == []


# --- cancelling a charge nobody will authenticate ------------------------------------------

CANCEL = ("POST", f"/v1/payment_intents/{INTENT_ID}/cancel")


@pytest.mark.django_db
def test_a_charge_waiting_for_3ds_is_cancelled_under_its_own_key():
    StripeCharge.objects.create(key=KEY, intent_id=INTENT_ID)
    cancelled = fake.intent("canceled", cancellation_reason="abandoned")
    gw, http = gateway(table={RETRIEVE: [fake.intent("requires_action")], CANCEL: [cancelled]})

    result = gw.cancel(idempotency_key=KEY)

    assert (result.outcome, result.reason) == (Outcome.DECLINED, "canceled:abandoned")
    assert [call[2] for call in http.calls if (call[0], call[1]) == CANCEL] == [f"{KEY}:cancel"]


@pytest.mark.django_db
def test_a_charge_the_buyer_authenticated_first_is_not_cancelled_but_reported_captured():
    StripeCharge.objects.create(key=KEY, intent_id=INTENT_ID)
    gw, http = gateway(table={RETRIEVE: [fake.intent("succeeded")]})
    assert gw.cancel(idempotency_key=KEY).outcome == Outcome.CAPTURED
    assert CANCEL not in http.paths()


@pytest.mark.django_db
def test_a_refused_confirm_is_resolved_by_a_lookup_whose_own_errors_are_transient():
    refused = (
        400,
        {"error": {"type": "invalid_request_error", "code": "payment_intent_unexpected_state"}},
    )
    gw, _ = gateway(table={**charging(refused), RETRIEVE: [fake.timeout()]})
    with pytest.raises(TransientGatewayError):
        charge(gw)
