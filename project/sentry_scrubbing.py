"""What Sentry may not see: buyers' e-mail addresses, names and phone numbers,
payment tokens and secrets, credentials. Imported only when Sentry is on
(project/error_tracking.py); docs/security.md says what is scrubbed.

Two passes, both on every event, transaction and check-in:

1. By key (sentry-sdk's EventScrubber, before the event is serialized): any
   value under a denied key (`customer_email`, `name`, `payment_token`,
   `authorization`, `cookie`, ...) in the request (body, headers, cookies),
   `extra` (a Celery task's arguments), breadcrumbs' data, spans' data and
   stack frames' local variables, at any depth, becomes "[Filtered]"; so does
   a denied key's value in the query string.
2. By text (`before_send`, on the serialized event), in every string and key
   of the event: a personal key's value written out in text
   (`"customer_name": "..."`, `customer_name=...`); e-mail addresses (also
   URL-encoded), card tokens and Stripe payment methods, client secrets and
   keys, API tokens; then every personal value either pass found (a buyer's
   name under `customer_name`, say) wherever else the event repeats it (an
   exception message, a log line's arguments, a variable's repr). Source
   lines are code, not data: only the patterns apply there. A name that no
   key ever labelled cannot be told from other text: log ids, not names.
"""

import re
import threading
from urllib.parse import parse_qsl, quote, quote_plus, unquote_plus, urlencode

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
# Shorter values are not chased through the text (they would eat common words),
# nor these, written after a key for want of a value.
MIN_CHASED_LENGTH = 3
NOT_PERSONAL = {"None", "null", "True", "False", "undefined", "%s", "%r", FILTERED}

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
# A personal key's value written out in text (a JSON string, a log line, a query):
# quoted, or up to the next separator. Not in source code, where the key is a name.
_KEYS = "|".join(PERSONAL_KEYS)
LABELLED = re.compile(
    rf"""(?P<label>\b(?:{_KEYS})\b["']?\s*[:=]\s*)"""
    rf"""(?:"(?P<double>[^"\n]*)"|'(?P<single>[^'\n]*)'|(?P<bare>[^&\n,;)}}\[\]"']+))""",
    re.IGNORECASE,
)
SOURCE_CODE_KEYS = {"pre_context", "context_line", "post_context"}


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
        # "customer_name=%s" in a log line's message, the name in its params: the
        # labelled text gives the value away, to be chased through the rest.
        _visit_text(event, lambda text: _remember_labelled(text, removed))
        return _rewrite_text(event, _text_scrubber(removed), _text_scrubber(removed, code=True))

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
        if len(text) >= MIN_CHASED_LENGTH and text not in NOT_PERSONAL:
            removed.add(text)
            removed.add(unquote_plus(text))  # "Ann+Buyer" in a query is "Ann Buyer"
    elif isinstance(value, list | tuple):
        for item in value:
            _remember(item, removed)


def _remember_labelled(text: str, removed: set) -> None:
    for match in LABELLED.finditer(text):
        _remember(
            next((value for value in match.group("double", "single", "bare") if value), ""), removed
        )


def _labelled_value(match: re.Match) -> str:
    quote_mark = '"' if match["double"] is not None else "'" if match["single"] is not None else ""
    return f"{match['label']}{quote_mark}{FILTERED}{quote_mark}"


def _text_scrubber(removed: set, *, code: bool = False):
    # As written and as a URL writes it (a request's repr quotes its query);
    # longest first ("Ann Buyer" before "Ann"); whole words only, so that "Ann"
    # does not eat "Annotated" or a file's path.
    forms = {form for value in removed for form in (value, quote(value), quote_plus(value))}
    alternatives = "|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True))
    chased = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)") if forms else None

    def scrub(text: str) -> str:
        if not code:
            text = LABELLED.sub(_labelled_value, text)
        for pattern, replacement in PATTERNS:
            text = pattern.sub(replacement, text)
        if chased is not None:
            text = chased.sub(FILTERED, text)
        return text

    return scrub


def _visit_text(value, visit, in_code: bool = False) -> None:
    """Calls `visit` on every string and key of `value` but source code."""
    if isinstance(value, str) and not in_code:
        visit(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                visit(key)
            _visit_text(item, visit, in_code=key in SOURCE_CODE_KEYS)
    elif isinstance(value, list | tuple):
        for item in value:
            _visit_text(item, visit, in_code)


def _rewrite_text(value, scrub, code_scrub):
    """Every string and key of `value` rewritten; a stack frame's source lines by `code_scrub`."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {
            (scrub(key) if isinstance(key, str) else key): _rewrite_text(
                item, code_scrub if key in SOURCE_CODE_KEYS else scrub, code_scrub
            )
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_rewrite_text(item, scrub, code_scrub) for item in value]
    return value
