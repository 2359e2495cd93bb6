"""What Sentry may not see: buyers' e-mail addresses, names and phone numbers,
payment tokens and secrets, credentials. Imported only when Sentry is on
(project/error_tracking.py); docs/security.md says what is scrubbed.

Two passes, both on every event, transaction and check-in:

1. By key (sentry-sdk's EventScrubber, before the event is serialized): any
   value under a denied key (`customer_email`, `name`, `payment_token`,
   `authorization`, `cookie`, ...) in the request (body, headers, cookies),
   `extra` (a Celery task's arguments), breadcrumbs' data, spans' data and
   stack frames' local variables, at any depth, becomes "[Filtered]".
2. By text (`before_send`, on the serialized event): in every string and key
   of the event, e-mail addresses (also URL-encoded), card tokens and
   Stripe payment methods, client secrets and keys, API tokens; then every
   string the first pass took from a personal key (a buyer's name under
   `customer_name`, say) wherever else the event repeats it (an exception
   message, a local variable's repr, a log line). A name no key ever
   labelled cannot be told from other text: log ids, not names.
"""

import re
import threading
from urllib.parse import parse_qsl, quote, quote_plus, urlencode

from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

FILTERED = "[Filtered]"

# Keys whose values are removed, and looked for again in the event's text.
PERSONAL_KEYS = [
    "customer_name",
    "customer_email",
    "customer_phone",
    "email",
    "first_name",
    "last_name",
    "full_name",
    "phone",
    "payment_token",
    "payment_client_secret",
    "client_secret",
]
# Keys whose values are removed only: "name" labels much besides a person (a
# template, a database), too common to chase through the text.
OTHER_DENIED_KEYS = ["name", "username", "stripe_secret_key", "stripe_webhook_secret", "api_token"]
# Shorter values are not chased through the text (they would eat common words).
MIN_CHASED_LENGTH = 3

PATTERNS = [
    # A local part of at most 64 characters (RFC 5321) keeps the match linear.
    (re.compile(r"[\w.+%-]{1,64}(?:@|%40)[\w-]+(?:\.[\w-]+)+", re.IGNORECASE), "[email]"),
    # Stripe client secrets (PaymentIntent, SetupIntent): the id alone is harmless.
    (re.compile(r"\b(?:pi|seti)_[A-Za-z0-9]+_secret_[A-Za-z0-9]+"), FILTERED),
    # Card tokens, payment methods, secret and restricted keys, webhook secrets.
    (re.compile(r"\b(?:tok|pm|sk_live|sk_test|rk_live|rk_test|whsec)_[A-Za-z0-9_]+"), FILTERED),
    # An Authorization header's credentials repeated in text (DRF tokens are 40 hex digits).
    (re.compile(r"\b(Token|Bearer)\s+[\w.~+/=-]{20,}"), rf"\1 {FILTERED}"),
]


class PersonalDataScrubber(EventScrubber):
    """sentry-sdk's scrubber with our keys, which remembers the personal values
    it removes so that `before_send` can remove them from the event's text too.

    Sentry prepares an event in the capturing thread: scrub_event, serialize,
    before_send, one after the other, so a thread-local carries the values
    from the first to the last."""

    def __init__(self) -> None:
        super().__init__(
            denylist=[*DEFAULT_DENYLIST, *PERSONAL_KEYS, *OTHER_DENIED_KEYS],
            recursive=True,
            send_default_pii=False,
        )
        self._personal_keys = {key.lower() for key in PERSONAL_KEYS}
        self._removed = threading.local()

    def scrub_event(self, event) -> None:
        self._removed.values = set()
        super().scrub_event(event)

    def scrub_dict(self, d: object) -> None:
        if isinstance(d, dict):
            for key, value in d.items():
                if isinstance(key, str) and key.lower() in self._personal_keys:
                    _remember(value, self._removed_values())
        super().scrub_dict(d)

    def before_send(self, event: dict, hint: dict) -> dict:
        removed = self._removed_values()
        self._removed.values = set()  # the next event starts afresh
        request = event.get("request")
        if isinstance(request, dict) and isinstance(request.get("query_string"), str):
            request["query_string"] = self._scrub_query(request["query_string"], removed)
        # As written and as a URL writes it (a request's repr quotes its query).
        variants = {form for value in removed for form in (value, quote(value), quote_plus(value))}
        chased = sorted(variants, key=len, reverse=True)  # "Ann Buyer" before "Ann"
        return _scrub_text(event, _text_scrubber(chased))

    def _removed_values(self) -> set:
        if not hasattr(self._removed, "values"):
            self._removed.values = set()
        return self._removed.values

    def _scrub_query(self, query: str, removed: set) -> str:
        """The query string is one string to the key pass: its keys are checked here."""
        pairs = []
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key.lower() in self.denylist:
                if key.lower() in self._personal_keys:
                    _remember(value, removed)
                value = FILTERED
            pairs.append((key, value))
        return urlencode(pairs, safe="[]")


def _remember(value: object, removed: set) -> None:
    if isinstance(value, str):
        # A stack frame's variables arrive already as reprs: 'Ann Buyer', quotes and all.
        text = value.strip()
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            text = text[1:-1]
        if len(text) >= MIN_CHASED_LENGTH:
            removed.add(text)
    elif isinstance(value, list | tuple):
        for item in value:
            _remember(item, removed)


def _text_scrubber(chased: list[str]):
    # Whole words, as written: "Ann" must not eat "Annotated" or a file's path.
    alternatives = "|".join(re.escape(value) for value in chased)
    chased_pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)") if chased else None

    def scrub(text: str) -> str:
        for pattern, replacement in PATTERNS:
            text = pattern.sub(replacement, text)
        if chased_pattern is not None:
            text = chased_pattern.sub(FILTERED, text)
        return text

    return scrub


def _scrub_text(value, scrub):
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {
            (scrub(key) if isinstance(key, str) else key): _scrub_text(item, scrub)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub_text(item, scrub) for item in value]
    return value
