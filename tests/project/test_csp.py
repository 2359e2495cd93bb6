"""The Content-Security-Policy: this site's own scripts only, Stripe's where
Stripe takes the payments, and none on the API docs page (Swagger UI from a CDN)."""

import pytest

from project.csp import content_security_policy
from tests.factories import TicketFactory

pytestmark = pytest.mark.django_db


def directives(header: str) -> dict[str, list[str]]:
    parts = (part.strip().split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in parts}


def test_the_storefront_allows_its_own_scripts_only(client):
    response = client.get(f"/events/{TicketFactory().pk}/")
    policy = directives(response["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]


def test_the_api_docs_page_and_the_json_answers_are_left_out(client):
    assert "Content-Security-Policy" not in client.get("/api/docs/")
    assert "Content-Security-Policy" not in client.get("/api/tickets/")


def test_with_stripe_its_script_frames_and_api_are_allowed():
    policy = content_security_policy(
        gateway="stripe", stripe_js_url="https://js.stripe.com/v3/", stripe_api_base=""
    )["DIRECTIVES"]
    assert policy["script-src"] == ["'self'", "https://js.stripe.com"]
    assert "https://hooks.stripe.com" in policy["frame-src"]
    assert policy["connect-src"] == ["'self'", "https://api.stripe.com"]


def test_a_local_stripe_fake_is_allowed_where_the_settings_point():
    policy = content_security_policy(
        gateway="stripe",
        stripe_js_url="http://127.0.0.1:8420/js.stripe.com/v3/",
        stripe_api_base="http://127.0.0.1:8420",
    )["DIRECTIVES"]
    assert "http://127.0.0.1:8420" in policy["script-src"]
    assert policy["connect-src"] == ["'self'", "http://127.0.0.1:8420"]
