/* The waiting list: join where it says sold out; an entry's page (confirm, place, offer, leave). */

import { ACCEPTED, ENTRY_CHANGED, ENTRY_EVERY_SECONDS, NO_PURCHASE, clearErrors, guard, jsonOf, load, postPatiently, retryAfter, save, say, showFieldErrors, startCountdown } from "./common.js";

export function joinBody(form) {
  const data = new FormData(form);
  const quantity = String(data.get("quantity") || "").trim();
  return {
    customer_name: String(data.get("customer_name") || "").trim(),
    customer_email: String(data.get("customer_email") || "").trim(),
    quantity: /^\d+$/.test(quantity) ? Number(quantity) : quantity,
  };
}

export function startJoinForm(form) {
  const button = form.querySelector("button[type=submit]");
  const status = form.querySelector("[data-join-status]");
  const onSale = form.querySelector("[data-join-on-sale]");
  form.addEventListener(
    "submit",
    guard(form, [button], async function () {
      clearErrors(form);
      onSale.hidden = true;
      say(status, "Joining the waiting list\u2026");
      const body = joinBody(form);
      const response = await postPatiently(form.dataset.joinUrl, body, form, status);
      if (!response) return false;
      const answer = await jsonOf(response);
      if (response.status === 202) {
        // The entry's link is its owner's secret: it goes to the address, never
        // to this page, and the answer is the same whether the address waits or not.
        say(
          status,
          "Check your e-mail (" + body.customer_email + "): the link in it confirms your place in line."
        );
        return false; // a mistyped address can be corrected and sent again
      }
      if (response.status === 400) {
        say(status, "Please check the details below.");
        showFieldErrors(form, answer);
      } else if (response.status === 409 && answer.code === "seats_on_sale") {
        say(status, "Seats are on sale again: you can buy them now instead of waiting.");
        onSale.hidden = false;
      } else {
        say(status, answer.detail || "Something went wrong. Please try again.");
      }
      return false;
    })
  );
  button.disabled = false;
}

export function startEntryPage(root) {
  const entryId = root.dataset.entryId;
  const state = root.dataset.state;
  const announcer = root.querySelector("[data-announcer]");
  const heading = root.querySelector("#h-state");
  const controls = Array.from(root.querySelectorAll("button"));

  /** Shows the entry again as the server has it now, its new state focused. */
  function showAgain() {
    save(ENTRY_CHANGED + entryId, true);
    window.location.reload();
  }

  if (load(ENTRY_CHANGED + entryId)) {
    save(ENTRY_CHANGED + entryId, null);
    if (heading) heading.focus(); // after leave, decline or a new offer: read out where it stands
  }

  // Confirm and remove (unconfirmed), leave (waiting), decline (an open offer):
  // one POST, then the new state.
  for (const button of root.querySelectorAll("[data-action]")) {
    const region = button.parentElement;
    const status = region.querySelector("[data-action-status]");
    const error = region.querySelector("[data-action-error]");
    button.addEventListener(
      "click",
      guard(null, controls, async function () {
        error.hidden = true;
        say(status, button.dataset.busyText);
        const response = await postPatiently(button.dataset.action, {}, root, status);
        if (!response) return false;
        const answer = await jsonOf(response);
        if (response.status === 409 && answer.code === "seats_on_sale") {
          // Confirming while the seats can be bought: buy instead (still unconfirmed).
          say(status, "");
          say(error, "Seats are on sale again: you can buy them now instead of waiting.");
          error.hidden = false;
          const onSale = region.querySelector("[data-on-sale]");
          if (onSale) onSale.hidden = false;
          return false;
        }
        if (response.ok || response.status === 409) {
          showAgain(); // done, or it had already changed (taken, lapsed): the page says which
          return true;
        }
        say(status, "");
        say(error, answer.detail || "Something went wrong. Please try again.");
        error.hidden = false;
        return false;
      })
    );
  }

  const offer = root.querySelector("[data-offer-form]");
  if (offer) startOfferForm(root, offer, controls, showAgain);

  if (state === "offered") {
    startCountdown(root, Number(root.dataset.offerSecondsLeft || 0), function () {
      say(announcer, "The offer has ended.");
      // A moment after its end the server has it as over; a purchase on its way decides itself.
      if (!offer || offer.getAttribute("aria-busy") !== "true") window.setTimeout(showAgain, 1500);
    });
  }
  if (state === "waiting") followPlace(root, announcer, showAgain);
  for (const button of controls) button.disabled = false;
}

/** While waiting: the place in line as it moves, and the page again once it changes state. */
export function followPlace(root, announcer, showAgain) {
  let position = root.dataset.position;
  async function check() {
    if (document.hidden) return;
    let response;
    try {
      response = await fetch(root.dataset.entryUrl, { headers: { Accept: "application/json" }, cache: "no-store" });
    } catch (error) {
      return; // the next check tries again
    }
    if (!response.ok) return;
    const entry = await response.json();
    if (entry.state !== "waiting") {
      window.clearInterval(timer);
      showAgain(); // an offer came (or the entry ended elsewhere)
      return;
    }
    if (String(entry.position) !== position) {
      position = String(entry.position);
      say(root.querySelector("[data-position]"), position);
      say(announcer, "You are number " + position + " in line.");
    }
  }
  const timer = window.setInterval(check, ENTRY_EVERY_SECONDS * 1000);
}

export function startOfferForm(root, form, controls, showAgain) {
  const status = form.querySelector("[data-offer-status]");
  form.addEventListener(
    "submit",
    guard(form, controls, async function () {
      clearErrors(form);
      const token = String(new FormData(form).get("payment_token") || "");
      say(status, "Buying your seats\u2026");
      const body = { payment_method: "card", payment_token: token };
      const response = await postPatiently(root.dataset.purchaseUrl, body, root, status);
      if (!response) return false;
      const answer = await jsonOf(response);
      if (response.status === 202) {
        save(ACCEPTED + answer.purchase_id, {
          location: response.headers.get("Location"),
          retryAfter: retryAfter(response, 1),
          at: Date.now(),
        });
        say(status, "Order received. Opening your purchase\u2026");
        window.location.assign(root.dataset.purchasePageUrl.replace(NO_PURCHASE, answer.purchase_id));
        return true;
      }
      if (response.status === 400) {
        say(status, "Please check the details below.");
        showFieldErrors(form, answer);
        return false;
      }
      if (response.status === 409) {
        showAgain(); // the offer is no longer open: the page says what happened
        return true;
      }
      say(status, answer.detail || "Something went wrong. Please try again.");
      return false;
    })
  );
}
