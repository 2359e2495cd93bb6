/*
 * The storefront's script: plain JavaScript, no build step, talking only to the
 * public API (the same one any other front end uses).
 *
 * - Lists: refresh each event's seats left from GET /api/tickets/.
 * - Buy form: POST /api/tickets/purchase/direct/ with an Idempotency-Key per
 *   attempt, kept in sessionStorage with the body it was sent with, so a
 *   double click, a lost answer or a reload sends the same key again and the
 *   API answers the first purchase instead of making a second.
 * - Purchase page: poll the status URL (the 202's Location), honouring
 *   Retry-After and ETag (If-None-Match -> 304), and show each state.
 * - Waiting list: where the storefront says "sold out", a form joins the
 *   ticket's list (POST /api/tickets/<id>/waiting-list/) and opens the entry's
 *   page; there the buyer follows their place, buys an offer (POST purchase/,
 *   no Idempotency-Key needed: the API answers a taken offer with its purchase
 *   again), declines it or leaves. The entry's page is rendered by the server
 *   in its current state: after a change the script shows it again.
 */
"use strict";

(function () {
  const ATTEMPT = "storefront:attempt:"; // + ticket id: {key, body, purchaseId}
  const ACCEPTED = "storefront:accepted:"; // + purchase id: {location, retryAfter, at}
  const ENTRY_CHANGED = "storefront:entry-changed:"; // + entry id: focus its new state once shown
  const NO_PURCHASE = "00000000-0000-0000-0000-000000000000";
  const NO_ENTRY = NO_PURCHASE;
  const FINAL = ["completed", "failed", "expired", "cancelled", "refunded"];
  const DECIDED = FINAL.concat(["confirmed"]);
  const AVAILABILITY_EVERY_SECONDS = 15;
  const CREATE_TRIES = 6;
  const ENTRY_EVERY_SECONDS = 15;
  // 429s that are answers, not "busy": waiting would not change them.
  const REFUSALS = ["hold_limit_reached", "waiting_list_cap_reached"];

  // --- Small helpers -------------------------------------------------------------

  function load(key) {
    try {
      return JSON.parse(window.sessionStorage.getItem(key));
    } catch (error) {
      return null; // storage switched off: every attempt is new, the API still dedupes a replay
    }
  }

  function save(key, value) {
    try {
      if (value === null) window.sessionStorage.removeItem(key);
      else window.sessionStorage.setItem(key, JSON.stringify(value));
    } catch (error) {
      /* storage switched off or full: nothing to keep */
    }
  }

  function newKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // randomUUID needs a secure context; getRandomValues does not.
    const bytes = window.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  /** Seconds to wait from a Retry-After header (seconds or an HTTP date), within 1..60. */
  function retryAfter(response, fallback) {
    const value = response.headers.get("Retry-After");
    let seconds = value === null ? fallback : Number(value);
    if (value !== null && !Number.isFinite(seconds)) {
      const date = Date.parse(value);
      seconds = Number.isNaN(date) ? fallback : (date - Date.now()) / 1000;
    }
    return Math.min(60, Math.max(1, seconds));
  }

  function sleep(seconds) {
    return new Promise((resolve) => window.setTimeout(resolve, seconds * 1000));
  }

  function csrfToken(scope) {
    const input = scope.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  async function jsonOf(response) {
    try {
      return await response.json();
    } catch (error) {
      return {};
    }
  }

  function postJson(url, body, scope, extraHeaders) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: Object.assign(
        {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRFToken": csrfToken(scope),
        },
        extraHeaders || {}
      ),
      body: JSON.stringify(body),
    });
  }

  function say(element, text) {
    if (element) element.textContent = text || "";
  }

  function duration(seconds) {
    if (seconds < 60) return seconds + (seconds === 1 ? " second" : " seconds");
    const minutes = Math.round(seconds / 60);
    return minutes + (minutes === 1 ? " minute" : " minutes");
  }

  // --- Seats left --------------------------------------------------------------------

  function seatsText(available, total) {
    return available > 0 ? available + " of " + total + " left" : "Sold out";
  }

  async function refreshAvailability(source) {
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

  function startAvailability() {
    const holder = document.querySelector("[data-availability-source]");
    if (!holder) return;
    const source = holder.dataset.availabilitySource;
    window.setInterval(function () {
      if (!document.hidden) refreshAvailability(source).catch(function () {});
    }, AVAILABILITY_EVERY_SECONDS * 1000);
  }

  // --- The buy form ------------------------------------------------------------------

  function purchaseBody(form) {
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
  function attemptFor(ticketId, body) {
    const saved = load(ATTEMPT + ticketId);
    if (saved && saved.key && JSON.stringify(saved.body) === JSON.stringify(body)) return saved;
    const attempt = { key: newKey(), body: body, purchaseId: null };
    save(ATTEMPT + ticketId, attempt);
    return attempt;
  }

  /** Field error slots are `#<prefix>error-<field>`, the prefix from data-error-prefix. */
  function errorPrefix(form) {
    return form.dataset.errorPrefix || "";
  }

  function clearErrors(form) {
    for (const slot of form.querySelectorAll(".error[id^='" + errorPrefix(form) + "error-']")) {
      slot.hidden = true;
      say(slot, "");
    }
    for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  }

  function showFieldErrors(form, errors) {
    let first = null;
    const general = [];
    for (const [field, messages] of Object.entries(errors)) {
      const text = [].concat(messages).join(" ");
      const slot = form.querySelector("#" + CSS.escape(errorPrefix(form) + "error-" + field));
      if (!slot) {
        general.push(text);
        continue;
      }
      say(slot, text);
      slot.hidden = false;
      const input = form.elements.namedItem(field);
      const target = input instanceof Element ? input : form.querySelector('[name="' + field + '"]');
      if (target) {
        if (input instanceof Element) target.setAttribute("aria-invalid", "true");
        first = first || target;
      }
    }
    if (general.length) {
      const slot = form.querySelector("#" + CSS.escape(errorPrefix(form) + "error-form"));
      say(slot, general.join(" "));
      slot.hidden = false;
    }
    if (first) first.focus();
  }

  function startBuyForm(form) {
    const ticketId = form.dataset.ticketId;
    const button = form.querySelector("button[type=submit]");
    const status = form.querySelector("[data-buy-status]");
    let inFlight = false;

    resumeNotice(ticketId);
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
        leaving = await buy(form, status);
      } finally {
        form.removeAttribute("aria-busy");
        if (!leaving) {
          inFlight = false;
          button.disabled = false;
        }
      }
    });
  }

  /** Sends the purchase; true when the page is going to the purchase's page. */
  async function buy(form, status) {
    const ticketId = form.dataset.ticketId;
    const body = purchaseBody(form);
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
  function offerWaitingList(buyForm) {
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

  function resumeNotice(ticketId) {
    const notice = document.querySelector("[data-resume]");
    const saved = load(ATTEMPT + ticketId);
    if (!notice || !saved || !saved.purchaseId) return;
    const form = document.querySelector("[data-buy-form]");
    const link = notice.querySelector("[data-resume-link]");
    link.href = form.dataset.purchaseUrl.replace(NO_PURCHASE, saved.purchaseId);
    notice.hidden = false;
  }

  // --- The purchase page ---------------------------------------------------------------

  /** What the buyer sees for a status payload; storefront.buyer_state answers the same. */
  function buyerState(status, unpaid, paymentSubmitted) {
    switch (status.status) {
      case "confirmed":
      case "completed":
        return "confirmed";
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
    if (status.payment_status === "processing" || paymentSubmitted) return "paying";
    return unpaid ? "hold" : "waiting";
  }

  function startPurchasePage(root) {
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
      const next = buyerState(status, unpaid, paymentSubmitted);
      if (next === "confirmed") {
        if (!codesShown) await showCodes();
        const delivery = root.querySelector("[data-delivery]");
        say(delivery, status.status === "completed" ? delivery.dataset.sent : delivery.dataset.sending);
      }
      if (next === "waiting") showPlace(status.queue_position, status.estimated_wait_seconds);
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

  /** The page's own origin for a URL of it: a proxy that reports another scheme or host
   * (http behind https) must not send the polls elsewhere, or have them blocked. */
  function sameOrigin(url) {
    const parsed = new URL(url, window.location.href);
    return parsed.origin === window.location.origin ? parsed.href : parsed.pathname + parsed.search;
  }

  /** Counts `secondsLeft` down in [data-countdown] as m:ss; `onEnd` once at zero. */
  function startCountdown(root, secondsLeft, onEnd) {
    const countdown = root.querySelector("[data-countdown]");
    if (!countdown) return;
    const ends = performance.now() + secondsLeft * 1000;
    let timer = null;
    function tick() {
      const left = Math.max(0, Math.round((ends - performance.now()) / 1000));
      const minutes = Math.floor(left / 60);
      const seconds = String(left % 60).padStart(2, "0");
      say(countdown, left > 0 ? minutes + ":" + seconds : "a moment");
      if (left === 0 && onEnd && timer !== null) {
        window.clearInterval(timer);
        onEnd();
      }
    }
    timer = window.setInterval(tick, 1000);
    tick();
  }

  function startPayStep(root, page) {
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

  // --- The waiting list ------------------------------------------------------------------

  /** POSTs, waiting as told while the box office is busy (429, 503); null when it could
   * not be reached or stayed busy (the status line says so), else the answer. */
  async function postPatiently(url, body, scope, status) {
    for (let tries = 0; tries < CREATE_TRIES; tries++) {
      let response;
      try {
        response = await postJson(url, body, scope);
      } catch (error) {
        say(status, "We could not reach the box office. Check your connection and try again.");
        return null;
      }
      const problem = response.ok ? {} : await jsonOf(response.clone());
      const busy = response.status === 503 || (response.status === 429 && !REFUSALS.includes(problem.code));
      if (!busy) return response;
      const wait = retryAfter(response, 2);
      say(status, "The box office is busy. Trying again in " + duration(Math.ceil(wait)) + "\u2026");
      await sleep(wait);
    }
    say(status, "The box office is still busy. Please try again in a moment.");
    return null;
  }

  /** A button or form that sends one request at a time: disabled while it is on its way. */
  function guard(form, buttons, send) {
    let inFlight = false;
    return async function (event) {
      if (event) event.preventDefault();
      if (inFlight) return; // a second click while the first is on its way
      inFlight = true;
      for (const button of buttons) button.disabled = true;
      if (form) form.setAttribute("aria-busy", "true");
      let leaving = false;
      try {
        leaving = await send();
      } finally {
        if (form) form.removeAttribute("aria-busy");
        if (!leaving) {
          inFlight = false;
          for (const button of buttons) button.disabled = false;
        }
      }
    };
  }

  function joinBody(form) {
    const data = new FormData(form);
    const quantity = String(data.get("quantity") || "").trim();
    return {
      customer_name: String(data.get("customer_name") || "").trim(),
      customer_email: String(data.get("customer_email") || "").trim(),
      quantity: /^\d+$/.test(quantity) ? Number(quantity) : quantity,
    };
  }

  function startJoinForm(form) {
    const button = form.querySelector("button[type=submit]");
    const status = form.querySelector("[data-join-status]");
    const onSale = form.querySelector("[data-join-on-sale]");
    form.addEventListener(
      "submit",
      guard(form, [button], async function () {
        clearErrors(form);
        onSale.hidden = true;
        say(status, "Joining the waiting list\u2026");
        const response = await postPatiently(form.dataset.joinUrl, joinBody(form), form, status);
        if (!response) return false;
        const answer = await jsonOf(response);
        if (response.status === 201) {
          say(status, "You are on the waiting list.");
          window.location.assign(form.dataset.entryUrl.replace(NO_ENTRY, answer.entry_id));
          return true;
        }
        if (response.status === 200) {
          // Already on the list: the place's link is its owner's secret, so the
          // API e-mails it again rather than answering it here.
          const place = answer.position ? " (number " + answer.position + " in line)" : "";
          say(
            status,
            "This e-mail address is already on the waiting list" + place +
              ". We have e-mailed the link to your place again."
          );
          return true;
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

  function startEntryPage(root) {
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

    // Leave (while waiting) and decline (an open offer): one POST, then the new state.
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
          if (response.ok || response.status === 409) {
            showAgain(); // done, or it had already changed (taken, lapsed): the page says which
            return true;
          }
          const answer = await jsonOf(response);
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
  function followPlace(root, announcer, showAgain) {
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

  function startOfferForm(root, form, controls, showAgain) {
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

  // --- Start ---------------------------------------------------------------------------

  // Notes for browsers without this script (shown by the server, hidden here).
  for (const note of document.querySelectorAll("[data-without-script]")) note.hidden = true;
  startAvailability();
  const form = document.querySelector("[data-buy-form]");
  if (form) startBuyForm(form);
  const purchase = document.querySelector("[data-purchase]");
  if (purchase) startPurchasePage(purchase);
  for (const join of document.querySelectorAll("[data-join-form]")) startJoinForm(join);
  const entry = document.querySelector("[data-waiting-entry]");
  if (entry) startEntryPage(entry);
})();
