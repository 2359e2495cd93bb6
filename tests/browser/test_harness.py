import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_browser_reaches_the_served_project(page, web):
    page.goto(f"{web.url}/admin/login/")
    assert page.locator("input[name=username]").is_visible()
