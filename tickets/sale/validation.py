"""Validating the body of `POST /api/tickets/purchase/direct/` by hand:
PurchaseCreateSerializer's rules without its machinery. The messages are DRF's
own, and so is the shape, {"field": ["message", ...]} in the fields' order;
tests/tickets/sale/test_accept.py holds the two equal.
"""

import re

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator
from rest_framework.exceptions import ValidationError

from gateways import payment_method_accepted
from tickets.models import TicketPurchase

# Ids past a bigint match no ticket (the ORM answers them "does not exist" too).
MAX_ID = 2**63 - 1

REQUIRED = "This field is required."
NULL = "This field may not be null."
BLANK = "This field may not be blank."
NOT_AN_INTEGER = "A valid integer is required."
NOT_A_STRING = "Not a valid string."
BAD_EMAIL = "Enter a valid email address."
METHOD_NOT_ACCEPTED = '"{method}" cannot be paid through the payment gateway in use: pay by card.'
_MISSING = object()
_SURROGATE = re.compile("[\ud800-\udfff]")
_email_valid = EmailValidator(message=BAD_EMAIL)
_PAYMENT_METHODS = {str(value): value for value in TicketPurchase.PaymentMethod.values}


class _Invalid(Exception):
    def __init__(self, *messages: str) -> None:
        self.messages = list(messages)


def purchase_input_validate(data) -> dict:
    """The create body, validated: what PurchaseCreateSerializer's
    `validated_data` would be, or its ValidationError."""
    if not isinstance(data, dict):
        if data is None:
            raise ValidationError({"non_field_errors": ["No data provided"]})
        kind = type(data).__name__
        raise ValidationError(
            {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}
        )
    valid, errors = {}, {}
    for name, check in _FIELDS:
        try:
            valid[name] = check(data.get(name, _MISSING))
        except _Invalid as invalid:
            errors[name] = invalid.messages
    if errors:
        raise ValidationError(errors)
    return valid


def _present(value, *, default=_MISSING):
    if value is _MISSING:
        if default is _MISSING:
            raise _Invalid(REQUIRED)
        return default
    if value is None:
        raise _Invalid(NULL)
    return value


def _integer(value, *, maximum: int | None = None) -> int:
    value = _present(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(NOT_AN_INTEGER)
    if value < 1:
        raise _Invalid("Ensure this value is greater than or equal to 1.")
    if maximum is not None and value > maximum:
        raise _Invalid(f"Ensure this value is less than or equal to {maximum}.")
    return value


def _text(value, *, max_length: int, allow_blank: bool = False, email: bool = False) -> str:
    if value is _MISSING and allow_blank:
        return ""
    value = _present(value)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Invalid(BAD_EMAIL if email else NOT_A_STRING)
    value = str(value).strip()
    if not value:
        if allow_blank:
            return ""
        raise _Invalid(BLANK)
    messages = []
    if len(value) > max_length:
        messages.append(f"Ensure this field has no more than {max_length} characters.")
    if "\x00" in value:
        messages.append("Null characters are not allowed.")
    if surrogate := _SURROGATE.search(value):
        messages.append(f"Surrogate characters are not allowed: U+{ord(surrogate.group()):X}.")
    if email:
        try:
            _email_valid(value)
        except DjangoValidationError:
            messages.append(BAD_EMAIL)
    if messages:
        raise _Invalid(*messages)
    return value


def _choice(value) -> str:
    value = _present(value)
    try:
        method = _PAYMENT_METHODS[str(value)]
    except KeyError:
        raise _Invalid(f'"{value}" is not a valid choice.') from None
    if not payment_method_accepted(method):
        raise _Invalid(METHOD_NOT_ACCEPTED.format(method=method))
    return method


_FIELDS = (
    ("ticket_id", _integer),
    ("quantity", lambda value: _integer(value, maximum=settings.MAX_TICKETS_PER_PURCHASE)),
    ("customer_name", lambda value: _text(value, max_length=120)),
    ("customer_email", lambda value: _text(value, max_length=254, email=True)),
    ("customer_phone", lambda value: _text(value, max_length=32, allow_blank=True)),
    ("payment_method", _choice),
    ("payment_token", lambda value: _text(value, max_length=200, allow_blank=True)),
)
