/* Seats left on the lists, and the buy form: one Idempotency-Key per attempt. */

import { ACCEPTED, ATTEMPT, AVAILABILITY_EVERY_SECONDS, CREATE_TRIES, NO_PURCHASE, clearErrors, duration, jsonOf, load, newKey, postJson, retryAfter, save, say, showFieldErrors, sleep } from "./common.js";
import { mountCard, paymentMethodId } from "./stripe.js";
import { startJoinForm } from "./waiting_list.js";

export function seatsText(available, total) {
  return available > 0 ? available + " of " + total + " left" : "Sold out";
}

export async function refreshAvailability(source) {
  let url = source;
  while (url) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (!response.ok) return;
    const body = await response.json();
    const tickets = Array.isArray(body.results) ? body.results : [body];
    for (const ticket of tickets) {
      for (const cell of document.querySelectorAll('[data-availability="' + ticket.id + '"]')) {
        say(cell, seatsText(ticket.available_quantity, ticket.total_quantity));
      }
    }
    url = body.next || null;
  }
}

export function startAvailability() {
  const holder = document.querySelector("[data-availability-source]");
  if (!holder) return;
  const source = holder.dataset.availabilitySource;
  window.setInterval(function () {
    if (!document.hidden) refreshAvailability(source).catch(function () {});
  }, AVAILABILITY_EVERY_SECONDS * 1000);
}

export function purchaseBody(form) {
  const data = new FormData(form);
  const quantity = String(data.get("quantity") || "").trim();
  return {
    ticket_id: Number(form.dataset.ticketId),
    // A number when it is one; otherwise as typed, and the API says what is wrong.
    quantity: /^\d+$/.test(quantity) ? Number(quantity) : quantity,
    customer_name: String(data.get("customer_name") || "").trim(),
    customer_email: String(data.get("customer_email") || "").trim(),
    payment_method: "card",
    payment_token: String(data.get("payment_token") || ""),
  };
}

/** The attempt for this body: the stored one when the body is the same, else a new key. */
export function attemptFor(ticketId, body) {
  const saved = load(ATTEMPT + ticketId);
  if (saved && saved.key && JSON.stringify(saved.body) === JSON.stringify(body)) return saved;
  const attempt = { key: newKey(), body: body, purchaseId: null };
  save(ATTEMPT + ticketId, attempt);
  return attempt;
}

export function startBuyForm(form) {
  const ticketId = form.dataset.ticketId;
  const button = form.querySelector("button[type=submit]");
  const status = form.querySelector("[data-buy-status]");
  let inFlight = false;

  resumeNotice(ticketId);
  const stripeCard = mountCard(form); // Stripe's card form, when Stripe takes the payments
  const saved = load(ATTEMPT + ticketId);
  if (saved && saved.body && !saved.purchaseId) {
    // Reloaded mid-attempt: the same details send the same key again.
    for (const name of ["quantity", "customer_name", "customer_email"]) {
      if (form.elements.namedItem(name)) form.elements.namedItem(name).value = saved.body[name];
    }
    const card = form.querySelector('input[name=payment_token][value="' + CSS.escape(saved.body.payment_token) + '"]');
    if (card) card.checked = true;
  }
  button.disabled = false;

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    if (inFlight) return; // a second click while the first is on its way
    inFlight = true;
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    clearErrors(form);
    let leaving = false;
    try {
      leaving = await buy(form, status, stripeCard);
    } finally {
      form.removeAttribute("aria-busy");
      if (!leaving) {
        inFlight = false;
        button.disabled = false;
      }
    }
  });
}

/** Sends the purchase; true when the page is going to the purchase's page.
    With Stripe's card form, the card becomes a PaymentMethod first; an attempt
    sent again with the same details keeps its PaymentMethod, so it keeps its
    Idempotency-Key and cannot buy twice. */
export async function buy(form, status, card = null) {
  const ticketId = form.dataset.ticketId;
  const body = purchaseBody(form);
  if (card) {
    const saved = load(ATTEMPT + ticketId);
    const same = saved && saved.body && !saved.purchaseId &&
      JSON.stringify({ ...saved.body, payment_token: "" }) === JSON.stringify(body);
    try {
      body.payment_token = same ? saved.body.payment_token : await paymentMethodId(form, card);
    } catch (error) {
      showFieldErrors(form, { payment_token: [error.message] });
      say(status, "Please check the card.");
      return false;
    }
  }
  const attempt = attemptFor(ticketId, body);
  say(status, "Sending your order\u2026");
  for (let tries = 0; tries < CREATE_TRIES; tries++) {
    let response;
    try {
      response = await postJson(form.dataset.createUrl, body, form, { "Idempotency-Key": attempt.key });
    } catch (error) {
      say(status, "We could not reach the box office. Check your connection and press Buy again: you will not be charged twice.");
      return false;
    }
    if (response.status === 202) {
      const purchase = await response.json();
      attempt.purchaseId = purchase.purchase_id;
      save(ATTEMPT + ticketId, attempt);
      save(ACCEPTED + purchase.purchase_id, {
        location: response.headers.get("Location"),
        retryAfter: retryAfter(response, 1),
        at: Date.now(),
      });
      say(status, "Order received. Opening your purchase\u2026");
      window.location.assign(form.dataset.purchaseUrl.replace(NO_PURCHASE, purchase.purchase_id));
      return true;
    }
    const problem = await jsonOf(response);
    if (response.status === 400) {
      say(status, "Please check the details below.");
      showFieldErrors(form, problem);
      return false;
    }
    if (response.status === 409 && problem.code === "sold_out") {
      save(ATTEMPT + ticketId, null);
      say(status, "Sold out: there are not enough seats left for this order. Nothing was charged. You can join the waiting list below.");
      for (const cell of document.querySelectorAll('[data-availability="' + ticketId + '"]')) say(cell, "Sold out");
      offerWaitingList(form);
      return false;
    }
    if (response.status === 422) {
      // The key was used with other details: start a new attempt.
      save(ATTEMPT + ticketId, null);
      say(status, "Your order changed while it was being sent. Please press Buy again.");
      return false;
    }
    const busy =
      response.status === 503 ||
      (response.status === 429 && problem.code !== "hold_limit_reached") ||
      (response.status === 409 && problem.code === "idempotency_key_in_flight");
    if (!busy) {
      say(status, problem.detail || "Something went wrong. Press Buy again: you will not be charged twice.");
      return false;
    }
    const wait = retryAfter(response, 2);
    say(status, "The box office is busy. Trying again in " + duration(Math.ceil(wait)) + "\u2026");
    await sleep(wait);
  }
  say(status, "The box office is still busy. Press Buy again in a moment: you will not be charged twice.");
  return false;
}

/** Shows "Join the waiting list" under the buy form, filled in from it. */
export function offerWaitingList(buyForm) {
  let join = document.querySelector("[data-join-form]");
  const template = document.querySelector("template[data-join-template]");
  if (!join && template) {
    buyForm.after(template.content.cloneNode(true));
    template.remove();
    join = document.querySelector("[data-join-form]");
    for (const note of join.querySelectorAll("[data-without-script]")) note.hidden = true;
    startJoinForm(join);
  }
  if (!join) return;
  for (const name of ["customer_name", "customer_email", "quantity"]) {
    const from = buyForm.elements.namedItem(name);
    const to = join.elements.namedItem(name);
    if (from && to && from.value) to.value = from.value;
  }
}

export function resumeNotice(ticketId) {
  const notice = document.querySelector("[data-resume]");
  const saved = load(ATTEMPT + ticketId);
  if (!notice || !saved || !saved.purchaseId) return;
  const form = document.querySelector("[data-buy-form]");
  const link = notice.querySelector("[data-resume-link]");
  link.href = form.dataset.purchaseUrl.replace(NO_PURCHASE, saved.purchaseId);
  notice.hidden = false;
}
