/* The storefront's shared constants and small helpers (storefront.js starts the pages). */

export const ATTEMPT = "storefront:attempt:"; // + ticket id: {key, body, purchaseId}
export const ACCEPTED = "storefront:accepted:"; // + purchase id: {location, retryAfter, at}
export const ENTRY_CHANGED = "storefront:entry-changed:"; // + entry id: focus its new state once shown
export const NO_PURCHASE = "00000000-0000-0000-0000-000000000000";
export const FINAL = ["completed", "failed", "expired", "cancelled", "refunded"];
export const DECIDED = FINAL.concat(["confirmed"]);
export const AVAILABILITY_EVERY_SECONDS = 15;
export const CREATE_TRIES = 6;
export const ENTRY_EVERY_SECONDS = 15;
// 429s that are answers, not "busy": waiting would not change them.
export const REFUSALS = ["hold_limit_reached", "waiting_list_cap_reached", "waiting_list_mails_capped"];

export function load(key) {
  try {
    return JSON.parse(window.sessionStorage.getItem(key));
  } catch (error) {
    return null; // storage switched off: every attempt is new, the API still dedupes a replay
  }
}

export function save(key, value) {
  try {
    if (value === null) window.sessionStorage.removeItem(key);
    else window.sessionStorage.setItem(key, JSON.stringify(value));
  } catch (error) {
    /* storage switched off or full: nothing to keep */
  }
}

export function newKey() {
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
export function retryAfter(response, fallback) {
  const value = response.headers.get("Retry-After");
  let seconds = value === null ? fallback : Number(value);
  if (value !== null && !Number.isFinite(seconds)) {
    const date = Date.parse(value);
    seconds = Number.isNaN(date) ? fallback : (date - Date.now()) / 1000;
  }
  return Math.min(60, Math.max(1, seconds));
}

export function sleep(seconds) {
  return new Promise((resolve) => window.setTimeout(resolve, seconds * 1000));
}

export function csrfToken(scope) {
  const input = scope.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

export async function jsonOf(response) {
  try {
    return await response.json();
  } catch (error) {
    return {};
  }
}

export function postJson(url, body, scope, extraHeaders) {
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

export function say(element, text) {
  if (element) element.textContent = text || "";
}

export function duration(seconds) {
  if (seconds < 60) return seconds + (seconds === 1 ? " second" : " seconds");
  const minutes = Math.round(seconds / 60);
  return minutes + (minutes === 1 ? " minute" : " minutes");
}

/** Field error slots are `#<prefix>error-<field>`, the prefix from data-error-prefix. */
export function errorPrefix(form) {
  return form.dataset.errorPrefix || "";
}

export function clearErrors(form) {
  for (const slot of form.querySelectorAll(".error[id^='" + errorPrefix(form) + "error-']")) {
    slot.hidden = true;
    say(slot, "");
  }
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

export function showFieldErrors(form, errors) {
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

/** The page's own origin for a URL of it: a proxy that reports another scheme or host
 * (http behind https) must not send the polls elsewhere, or have them blocked. */
export function sameOrigin(url) {
  const parsed = new URL(url, window.location.href);
  return parsed.origin === window.location.origin ? parsed.href : parsed.pathname + parsed.search;
}

/** Counts `secondsLeft` down in [data-countdown] as m:ss; `onEnd` once at zero. */
export function startCountdown(root, secondsLeft, onEnd) {
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

/** POSTs, waiting as told while the box office is busy (429, 503); null when it could
 * not be reached or stayed busy (the status line says so), else the answer. */
export async function postPatiently(url, body, scope, status) {
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
export function guard(form, buttons, send) {
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
