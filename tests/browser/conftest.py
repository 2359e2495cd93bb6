"""Browser tests: Debian's headless Chromium driven by Playwright for Python,
against the real stack (the API under gunicorn, a real Celery worker, the
test database). Playwright never downloads a browser here: it launches
/usr/bin/chromium (`CHROMIUM` overrides it); without one the tests skip and
say why. `.ci/run` installs Debian's `chromium` package when it is missing.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.mailbox import Mailbox
from tests.worker_process import ROOT, WebServer, WorkerProcess

# Playwright's sync API runs an event loop in the test's thread, which makes
# Django refuse ORM calls there; the tests' own ORM use is synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def chromium_executable() -> str | None:
    candidate = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return candidate if Path(candidate).is_file() else None


@pytest.fixture(scope="session")
def browser():
    executable = chromium_executable()
    if executable is None:
        pytest.skip("no Chromium here: install Debian's `chromium` package (or set CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install -r requirements-dev.txt")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    """A fresh browser context per test (no cookies or storage carried over)."""
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def phone_page(browser):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture(scope="module")
def web(django_db_setup, django_db_blocker):
    """The project under gunicorn on a free port, serving static files itself."""
    server = WebServer(workers=1, threads=8, extra_env={"WHITENOISE_USE_FINDERS": "true"})
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mailbox():
    """A real SMTP server on loopback: what the pipeline's worker e-mails."""
    server = Mailbox().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pipeline(django_db_setup, django_db_blocker, mailbox):
    """A real Celery worker deciding, charging and delivering purchases, and
    sending the e-mails (to `mailbox`)."""
    process = WorkerProcess(name="browser", extra_env={"EMAIL_URL": mailbox.url}).start()
    yield process
    process.stop()


_screenshots_dir: Path | None = None


def screenshots_dir() -> Path:
    """Where screenshot() writes: SCREENSHOTS_DIR (relative to the repository),
    else a temporary folder of this run's own. The committed screenshots in
    docs/screenshots/ (the README and docs/storefront.md show them) are refreshed
    only by `make screenshots`, which sets SCREENSHOTS_DIR=docs/screenshots, so
    an ordinary test run changes no file of the repository."""
    global _screenshots_dir
    if _screenshots_dir is None:
        chosen = os.environ.get("SCREENSHOTS_DIR")
        if chosen:
            _screenshots_dir = ROOT / chosen
        else:
            _screenshots_dir = Path(tempfile.mkdtemp(prefix="tickets-screenshots-"))
    _screenshots_dir.mkdir(parents=True, exist_ok=True)
    return _screenshots_dir


def screenshot(page, name: str) -> Path:
    """Saves a full-page screenshot as <name>.png under screenshots_dir()."""
    path = screenshots_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def pytest_terminal_summary(terminalreporter):
    if _screenshots_dir is not None:
        terminalreporter.write_line(f"browser screenshots: {_screenshots_dir}")
