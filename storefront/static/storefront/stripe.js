/* Paying with Stripe, when Stripe takes the payments (the page then has
   data-stripe-key, and base.html has loaded Stripe.js from STRIPE_JS_URL).
   The card form is Stripe's (Elements): the card number goes to Stripe only,
   and the purchase carries the PaymentMethod id Stripe.js made of it. A
   payment the bank wants confirmed (3-D Secure) is confirmed here with the
   client secret the purchase's status gives its holder. */

let client = null;

export function stripeKey(element) {
  const holder = element.closest("[data-stripe-key]") || element.querySelector("[data-stripe-key]");
  return holder ? holder.dataset.stripeKey : "";
}

function stripe(key) {
  if (!client) {
    if (typeof window.Stripe !== "function") throw new Error("Stripe.js did not load");
    client = window.Stripe(key);
  }
  return client;
}

/** Mounts Stripe's card form in the form's [data-card-element]; null without one. */
export function mountCard(form) {
  const holder = form.querySelector("[data-card-element]");
  const key = stripeKey(form);
  if (!holder || !key) return null;
  const card = stripe(key).elements().create("card");
  card.mount(holder);
  return card;
}

/** The PaymentMethod id for the card typed in, or throws with Stripe's message. */
export async function paymentMethodId(form, card) {
  const result = await stripe(stripeKey(form)).createPaymentMethod({ type: "card", card: card });
  if (result && result.paymentMethod && result.paymentMethod.id) return result.paymentMethod.id;
  const message = result && result.error && result.error.message;
  throw new Error(message || "The card could not be read. Please check it.");
}

/** Lets the buyer's bank confirm the payment (3-D Secure); true when it did. */
export async function confirmWithBank(root, clientSecret) {
  const result = await stripe(stripeKey(root)).confirmCardPayment(clientSecret);
  return Boolean(result && !result.error);
}
