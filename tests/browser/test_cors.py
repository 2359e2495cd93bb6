"""A front end served from another origin buys through the API in a real browser:
CORS lets a configured origin post with an `Idempotency-Key`, read `Location`,
`Retry-After` and `ETag`, and poll with `If-None-Match`; an origin that is not
configured is stopped by the browser before its purchase is even sent (the
preflight gets no `Access-Control-Allow-Origin`)."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.factories import TicketFactory
from tests.worker_process import WebServer
from tickets.models import TicketPurchase

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

# The other front end: everything a developer needs to buy through the API.
# Query string: api (the API's origin), ticket (its id), email, and pay=later to
# buy without a card and pay (`complete/`) once a poll has been answered 304.
FRONT_END = """<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>A front end on another origin</title>
<p>Purchase: <output id="status">starting</output></p>
<ul id="codes"></ul>
<script>
const params = new URLSearchParams(location.search);
const api = params.get("api");
const payLater = params.get("pay") === "later";
const seen = (window.seen = { statuses: [], polls: 0, notModified: 0 });
const show = (text) => { document.getElementById("status").textContent = text; };
const sleep = (seconds) => new Promise((done) => setTimeout(done, seconds * 1000));

async function buy() {
  const created = await fetch(`${api}/api/tickets/purchase/direct/`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
    body: JSON.stringify({
      ticket_id: Number(params.get("ticket")), quantity: 2, customer_name: "Cross Origin",
      customer_email: params.get("email"), payment_method: "card",
      ...(payLater ? {} : { payment_token: "tok_success" }),
    }),
  });
  if (created.status !== 202) return show(`refused: ${created.status}`);
  seen.location = created.headers.get("Location");
  seen.retryAfter = created.headers.get("Retry-After");
  let body = await created.json();
  let wait = Number(seen.retryAfter);
  let etag = null;
  while (wait) {  // the API stops sending Retry-After once the purchase is final
    show(body.status);
    await sleep(wait);
    const polled = await fetch(seen.location, {
      headers: etag ? { "If-None-Match": etag } : {}, cache: "no-store",
    });
    seen.polls += 1;
    if (polled.status === 304) {
      seen.notModified += 1;
    } else {
      etag = polled.headers.get("ETag");
      body = await polled.json();
      seen.statuses.push(body.status);
    }
    wait = Number(polled.headers.get("Retry-After"));
    if (payLater && seen.notModified && seen.paid === undefined && body.status === "pending") {
      const paid = await fetch(`${api}/api/tickets/purchase/${body.purchase_id}/complete/`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ payment_token: "tok_success" }),
      });
      seen.paid = paid.status;
    }
  }
  const confirmed = ["confirmed", "completed"].includes(body.status);
  if (confirmed) {
    const details = await fetch(`${api}/api/tickets/purchase/${body.purchase_id}/details/`);
    for (const code of (await details.json()).ticket_codes) {
      const item = document.createElement("li");
      item.textContent = code;
      document.getElementById("codes").append(item);
    }
  }
  show(confirmed ? "confirmed" : body.status);
}
buy().catch((error) => show(`blocked: ${error.message}`));
</script>
</html>
"""


class FrontEndPage(BaseHTTPRequestHandler):
    def do_GET(self):
        body = FRONT_END.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass  # quiet


@pytest.fixture(scope="module")
def front_ends():
    """Two origins serving the same page: one the API allows, one it does not."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), FrontEndPage) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    allowed, other = (f"http://127.0.0.1:{server.server_address[1]}" for server in servers)
    yield {"allowed": allowed, "other": other}
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def api(front_ends, django_db_setup, django_db_blocker):
    """The project under gunicorn, allowing the first front end's origin only."""
    server = WebServer(
        workers=1,
        threads=8,
        extra_env={
            "CORS_ALLOWED_ORIGINS": front_ends["allowed"],
            "WHITENOISE_USE_FINDERS": "true",
        },
    )
    server.start()
    yield server
    server.stop()


def open_front_end(page, origin: str, api, ticket, email: str, pay: str = "now"):
    page.goto(f"{origin}/?api={api.url}&ticket={ticket.pk}&email={email}&pay={pay}")


def test_a_front_end_on_an_allowed_origin_buys_through_the_api(page, api, front_ends, pipeline):
    ticket = TicketFactory(total_quantity=10)

    open_front_end(page, front_ends["allowed"], api, ticket, "cross@example.com")

    expect(page.locator("#status")).to_have_text("confirmed", timeout=30_000)
    purchase = TicketPurchase.objects.get(customer_email="cross@example.com")
    assert purchase.status in (TicketPurchase.Status.CONFIRMED, TicketPurchase.Status.COMPLETED)
    codes = set(purchase.codes.values_list("code", flat=True))
    assert len(codes) == 2
    assert set(page.locator("#codes li").all_inner_texts()) == codes
    # The exposed headers reached the script (without CORS_EXPOSE_HEADERS they read null).
    seen = page.evaluate("window.seen")
    assert seen["location"] == f"{api.url}/api/tickets/purchase/{purchase.pk}/status/"
    assert seen["retryAfter"].isdigit()
    assert seen["polls"] >= 1
    assert seen["statuses"][-1] in ("confirmed", "completed")


def test_a_poller_sends_its_etag_and_pays_after_a_304(page, api, front_ends, pipeline):
    """A hold without a card waits unchanged: the poll with If-None-Match (allowed
    by the preflight) is answered 304; then the page pays through `complete/`."""
    ticket = TicketFactory(total_quantity=10)

    open_front_end(page, front_ends["allowed"], api, ticket, "later@example.com", pay="later")

    expect(page.locator("#status")).to_have_text("confirmed", timeout=30_000)
    seen = page.evaluate("window.seen")
    assert seen["notModified"] >= 1
    assert seen["paid"] == 202
    assert page.locator("#codes li").count() == 2
    purchase = TicketPurchase.objects.get(customer_email="later@example.com")
    assert purchase.confirmed_at is not None


def test_a_front_end_on_another_origin_is_blocked(page, api, front_ends):
    ticket = TicketFactory(total_quantity=10)

    open_front_end(page, front_ends["other"], api, ticket, "elsewhere@example.com")

    expect(page.locator("#status")).to_have_text("blocked: Failed to fetch", timeout=15_000)
    # The preflight failed, so the purchase itself was never sent.
    assert not TicketPurchase.objects.filter(customer_email="elsewhere@example.com").exists()
