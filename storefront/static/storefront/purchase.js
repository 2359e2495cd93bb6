/* The purchase page: polls the status URL honouring Retry-After and ETag, shows each state. */

import { ACCEPTED, ATTEMPT, DECIDED, FINAL, duration, jsonOf, load, postJson, retryAfter, sameOrigin, save, say, startCountdown } from "./common.js";
import { confirmWithBank } from "./stripe.js";

/** What the buyer sees for a status payload; storefront.buyer_state answers the same. */
export function buyerState(status, unpaid, paymentSubmitted) {
  switch (status.status) {
    case "confirmed":
    case "completed":
      return status.payment_status === "refund_pending" ? "refunding" : "confirmed";
    case "failed":
      return (
        { sold_out: "sold_out", unpaid_holds_full: "holds_full", payment_declined: "declined" }[
          status.failure_reason
        ] || "failed"
      );
    case "expired":
    case "cancelled":
    case "refunded":
      return status.status;
  }
  if (status.payment_status === "requires_action") return "authenticate";
  if (status.payment_status === "processing" || paymentSubmitted) return "paying";
  return unpaid ? "hold" : "waiting";
}

export function startPurchasePage(root) {
  const purchaseId = root.dataset.purchaseId;
  const ticketId = root.dataset.ticketId;
  const accepted = load(ACCEPTED + purchaseId);
  // Follow the 202's Location when this browser made the purchase; a bookmark knows its own.
  const statusUrl = sameOrigin((accepted && accepted.location) || root.dataset.statusUrl);
  const announcer = root.querySelector("[data-announcer]");
  const connection = root.querySelector("[data-connection]");
  let state = root.dataset.state;
  let unpaid = root.dataset.unpaid === "true";
  let paymentSubmitted = root.dataset.paymentSubmitted === "true";
  let codesShown = root.querySelectorAll("[data-codes] li").length > 0;
  let etag = null;
  let last = null;
  let timer = null;
  let polling = false;
  let stopped = false;
  // While the bank asks the buyer to confirm the payment (3-D Secure); once they
  // have answered, the page waits for the outcome Stripe sends the box office.
  let clientSecret = root.dataset.clientSecret || null;
  let bankAnswered = false;

  function setConnection(text) {
    connection.hidden = !text;
    say(connection, text);
  }

  function headline(name) {
    const heading = root.querySelector('[data-section="' + name + '"] h2');
    return heading ? heading.textContent : "";
  }

  function switchTo(next) {
    if (next === state) return;
    state = next;
    for (const section of root.querySelectorAll("[data-section]")) {
      section.hidden = section.dataset.section !== next;
    }
    say(announcer, headline(next)); // read out by screen readers (aria-live)
    document.title = headline(next) + " \u00b7 Tickets";
  }

  function showPlace(position, waitSeconds) {
    const place = root.querySelector("[data-place]");
    if (position === null || position === undefined) {
      place.hidden = true;
      return;
    }
    say(
      place.querySelector("[data-position]"),
      position === 0 ? "You\u2019re next." : position === 1 ? "1 buyer ahead of you." : position + " buyers ahead of you."
    );
    say(
      place.querySelector("[data-wait]"),
      waitSeconds === null || waitSeconds === undefined ? "" : "About " + duration(waitSeconds) + " to go."
    );
    place.hidden = false;
  }

  async function showCodes() {
    let response;
    try {
      response = await fetch(root.dataset.detailsUrl, { headers: { Accept: "application/json" }, cache: "no-store" });
    } catch (error) {
      return; // the next poll tries again
    }
    if (!response.ok) return;
    const purchase = await response.json();
    if (!purchase.ticket_codes || !purchase.ticket_codes.length) return;
    const list = root.querySelector("[data-codes]");
    const template = document.getElementById("code-item");
    list.replaceChildren();
    for (const code of purchase.ticket_codes) {
      const item = template.content.firstElementChild.cloneNode(true);
      const image = item.querySelector("img");
      image.src = root.dataset.qrUrl.replace("__code__", encodeURIComponent(code));
      image.alt = "QR code for " + code;
      say(item.querySelector("[data-code]"), code);
      list.append(item);
    }
    codesShown = true;
  }

  async function show(status) {
    let next = buyerState(status, unpaid, paymentSubmitted);
    if (next === "authenticate" && bankAnswered) next = "paying";
    if (next === "confirmed") {
      if (!codesShown) await showCodes();
      const delivery = root.querySelector("[data-delivery]");
      say(delivery, status.status === "completed" ? delivery.dataset.sent : delivery.dataset.sending);
    }
    if (next === "waiting") showPlace(status.queue_position, status.estimated_wait_seconds);
    if (next === "authenticate") clientSecret = status.client_secret || clientSecret;
    switchTo(next);
    if (DECIDED.includes(status.status)) {
      // Decided: a new order for this event is a new attempt with a new key.
      const saved = load(ATTEMPT + ticketId);
      if (saved && saved.purchaseId === purchaseId) save(ATTEMPT + ticketId, null);
      save(ACCEPTED + purchaseId, null);
    }
  }

  function schedule(seconds) {
    if (stopped) return;
    window.clearTimeout(timer);
    timer = window.setTimeout(poll, seconds * 1000);
  }

  async function poll() {
    if (polling) return;
    polling = true;
    try {
      await pollOnce();
    } finally {
      polling = false;
    }
  }

  async function pollOnce() {
    const headers = { Accept: "application/json" };
    if (etag) headers["If-None-Match"] = etag;
    let response;
    try {
      response = await fetch(statusUrl, { headers: headers, cache: "no-store", credentials: "same-origin" });
    } catch (error) {
      setConnection("We lost the connection. Trying again\u2026");
      schedule(5);
      return;
    }
    if (response.status === 304) {
      setConnection("");
      if (last) await show(last); // e.g. codes that did not load the first time
      schedule(retryAfter(response, 1));
      return;
    }
    if (response.ok) {
      setConnection("");
      etag = response.headers.get("ETag");
      last = await response.json();
      await show(last);
      if (FINAL.includes(last.status)) {
        stopped = true;
        return;
      }
      schedule(retryAfter(response, 1));
      return;
    }
    if (response.status === 404) {
      setConnection("We cannot find this purchase. Please check the address.");
      return;
    }
    setConnection("The box office is busy. We\u2019ll check again in a moment.");
    schedule(retryAfter(response, 5));
  }

  startBankStep(root, {
    secret: function () {
      return clientSecret;
    },
    done: function () {
      bankAnswered = true;
      switchTo("paying");
      schedule(0);
    },
  });
  startPayStep(root, {
    paid: function () {
      unpaid = false;
      paymentSubmitted = true;
      switchTo("paying");
      schedule(0);
    },
    show: function (status) {
      last = status;
      return show(status);
    },
    poll: function () {
      schedule(0);
    },
  });
  startCountdown(root, Number(root.dataset.holdSecondsLeft || 0));
  document.title = headline(state) + " \u00b7 Tickets";

  if (root.dataset.final === "true") {
    const saved = load(ATTEMPT + ticketId);
    if (saved && saved.purchaseId === purchaseId) save(ATTEMPT + ticketId, null);
    return; // nothing will change: no polling
  }
  // The 202 said when its queue could reach the purchase; a reload asks at once.
  const firstWait = accepted ? Math.max(0, accepted.at + accepted.retryAfter * 1000 - Date.now()) / 1000 : 0;
  schedule(firstWait);
}

export function startPayStep(root, page) {
  const form = root.querySelector("[data-pay-form]");
  if (!form) return;
  const pay = form.querySelector("button[type=submit]");
  const cancel = form.querySelector("[data-cancel]");
  const error = form.querySelector("#error-pay");
  let busy = false;

  function problem(text) {
    say(error, text);
    error.hidden = !text;
  }

  async function send(url, body, onDone) {
    if (busy) return;
    busy = true;
    pay.disabled = cancel.disabled = true;
    problem("");
    let response = null;
    try {
      response = await postJson(url, body, root);
    } catch (unreachable) {
      problem("We could not reach the box office. Please try again.");
    }
    busy = false;
    pay.disabled = cancel.disabled = false;
    if (!response) return;
    const answer = await jsonOf(response);
    if (response.ok) return onDone(answer);
    if (response.status === 400) {
      problem([].concat(answer.payment_token || answer.detail || "Please check the card.").join(" "));
    } else if (response.status === 409) {
      page.poll(); // no longer pending, or already paid: the status says what happened
    } else if (response.status === 429 || response.status === 503) {
      problem("The box office is busy. Please try again in " + duration(Math.ceil(retryAfter(response, 5))) + ".");
    } else {
      problem(answer.detail || "Something went wrong. Please try again.");
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const token = String(new FormData(form).get("payment_token") || "");
    send(root.dataset.completeUrl, { payment_token: token }, page.paid);
  });
  cancel.addEventListener("click", function () {
    send(root.dataset.cancelUrl, {}, page.show);
  });
  pay.disabled = cancel.disabled = false;
}

/** The 3-D Secure step: the bank's challenge, opened by the buyer's press. The
    outcome reaches the box office from Stripe; the page polls for it. */
export function startBankStep(root, page) {
  const button = root.querySelector("[data-confirm-with-bank]");
  if (!button) return;
  const error = root.querySelector("#error-bank");
  button.addEventListener("click", async function () {
    const secret = page.secret();
    if (!secret) return;
    button.disabled = true;
    say(error, "");
    error.hidden = true;
    let confirmed = false;
    try {
      confirmed = await confirmWithBank(root, secret);
    } catch (failure) {
      confirmed = false;
    }
    button.disabled = false;
    if (!confirmed) {
      say(error, "Your bank did not confirm the payment. You can try again while your seats are held.");
      error.hidden = false;
    }
    page.done();
  });
  button.disabled = false;
}
