/*
 * The storefront's script: plain JavaScript modules, no build step, talking only
 * to the public API (the same one any other front end uses). This one starts
 * the page; common.js holds the shared helpers, buy.js the lists and the buy
 * form, purchase.js the purchase page, waiting_list.js the waiting list.
 *
 * - Lists: refresh each event's seats left from GET /api/tickets/.
 * - Buy form: POST /api/tickets/purchase/direct/ with an Idempotency-Key per
 *   attempt, kept in sessionStorage with the body it was sent with, so a
 *   double click, a lost answer or a reload sends the same key again and the
 *   API answers the first purchase instead of making a second.
 * - Purchase page: poll the status URL (the 202's Location), honouring
 *   Retry-After and ETag (If-None-Match -> 304), and show each state.
 * - Waiting list: where the storefront says "sold out", a form asks to join the
 *   ticket's list (POST /api/tickets/<id>/waiting-list/) and says "check your
 *   e-mail": the entry's page is reached only from the link e-mailed to the
 *   address. There the buyer confirms the entry (POST confirm/), follows their
 *   place, buys an offer (POST purchase/,
 *   no Idempotency-Key needed: the API answers a taken offer with its purchase
 *   again), declines it or leaves. The entry's page is rendered by the server
 *   in its current state: after a change the script shows it again.
 */

import { startAvailability, startBuyForm } from "./buy.js";
import { startPurchasePage } from "./purchase.js";
import { startEntryPage, startJoinForm } from "./waiting_list.js";

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
