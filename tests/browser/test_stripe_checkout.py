"""Buying with Stripe in a real browser, offline: the storefront loads Stripe.js
from localstripe (a stateful fake of Stripe's API, with a fake Stripe.js), the
buyer types a card into its card form, and a card that asks for 3-D Secure is
confirmed through the fake bank's challenge; the outcome reaches the box
office by localstripe's signed webhook, through gunicorn and a real worker.

localstripe's Stripe.js leaves `createPaymentMethod` empty, so the test (only
the test) completes it: the script it serves gets a few lines appended that
post the typed card to a test address, which the test answers by making the
PaymentMethod on localstripe, as Stripe.js does on Stripe. The storefront's
own code is what runs in production."""

import json

import pytest
from playwright.sync_api import expect

from tests.browser.test_storefront import buy_button, expect_tickets
from tests.factories import TicketFactory
from tests.gateways.localstripe import LocalStripe, LocalStripeUnavailable
from tests.worker_process import WebServer
from tickets.models import TicketPurchase

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

THREE_D_SECURE = "4000002760003184"
MAKE_PAYMENT_METHOD = "/__test__/stripe-payment-method"
# Appended to the fake Stripe.js: createPaymentMethod posts the card to the test.
PAYMENT_METHOD_SHIM = """
;(function () {
  const fake = window.Stripe;
  window.Stripe = function (key) {
    const stripe = fake(key);
    stripe.createPaymentMethod = async function (options) {
      const response = await fetch("/__test__/stripe-payment-method", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(options.card.value.card),
      });
      return { paymentMethod: await response.json() };
    };
    return stripe;
  };
})();
"""


@pytest.fixture
def localstripe():
    try:
        server = LocalStripe().start()
    except LocalStripeUnavailable as exc:
        pytest.skip(f"localstripe cannot start: {exc}")
    yield server
    server.stop()


@pytest.fixture
def stripe_stack(localstripe, start_worker):
    """gunicorn and a worker paying through localstripe, its webhooks sent to gunicorn."""
    env = {**localstripe.env(), "STRIPE_JS_URL": f"{localstripe.url}/js.stripe.com/v3/"}
    start_worker("stripe-browser", extra_env=env)
    web = WebServer(workers=1, threads=8, extra_env={**env, "WHITENOISE_USE_FINDERS": "true"})
    web.start()
    localstripe.send_webhooks_to(f"{web.url}/api/payments/webhooks/stripe/")
    yield web
    web.stop()


def complete_stripe_js(page, localstripe) -> None:
    def serve_script(route):
        response = route.fetch()
        route.fulfill(response=response, body=response.text() + PAYMENT_METHOD_SHIM)

    def make_payment_method(route):
        card = json.loads(route.request.post_data)
        payment_method = localstripe.payment_method(card["number"])
        route.fulfill(
            status=200, content_type="application/json", body=json.dumps({"id": payment_method})
        )

    page.route(f"{localstripe.url}/js.stripe.com/v3/", serve_script)
    page.route(f"**{MAKE_PAYMENT_METHOD}", make_payment_method)


def test_a_3d_secure_card_is_confirmed_with_the_bank_and_ends_with_tickets(
    page, localstripe, stripe_stack
):
    ticket = TicketFactory(name="Kilimanjaro Sunrise Trek", total_quantity=10, price="40.00")
    complete_stripe_js(page, localstripe)
    response = page.goto(f"{stripe_stack.url}/events/{ticket.pk}/")
    policy = response.headers["content-security-policy"]
    assert f"script-src 'self' {localstripe.url}" in policy
    assert f"connect-src 'self' {localstripe.url}" in policy

    page.get_by_label("Number of tickets").fill("2")
    page.get_by_label("Your name").fill("Ann Buyer")
    page.get_by_label("E-mail").fill("ann@example.com")
    card = page.locator("[data-card-element]")
    card.get_by_placeholder("number").fill(THREE_D_SECURE)
    card.get_by_placeholder("exp_month").fill("12")
    card.get_by_placeholder("exp_year").fill("30")
    card.get_by_placeholder("cvc").fill("123")
    card.get_by_placeholder("postal_code").fill("10115")
    buy_button(page).click()

    bank = page.locator('[data-section="authenticate"]')
    expect(bank.get_by_role("heading")).to_have_text(
        "Your bank asks you to confirm this payment", timeout=30_000
    )
    purchase = TicketPurchase.objects.get(ticket=ticket)
    assert purchase.payment_token.startswith("pm_")
    assert purchase.payment_status == "requires_action"
    bank.get_by_role("button", name="Confirm with your bank").click()
    page.get_by_role("button", name="Complete authentication").click()  # the fake bank's

    expect_tickets(page, 2)
    purchase.refresh_from_db()
    assert purchase.status in ("confirmed", "completed")
    assert purchase.codes.count() == 2
