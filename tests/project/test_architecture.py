"""The floors of the house are enforced by import-linter (pyproject.toml), which
`make test` runs. These tests prove the contracts bite: a copy of the code with
one back-arrow added fails them."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [
    "project",
    "gateways",
    "tickets",
    "payments",
    "workers",
    "storefront",
    "bench",
    "devtools",
]


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("house")
    shutil.copy(ROOT / "pyproject.toml", copy)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("*.pyc"))
    return copy


def add_line(tree: Path, module: str, line: str):
    path = tree / module
    original = path.read_text()
    path.write_text(original + f"\n{line}\n")
    return lambda: path.write_text(original)


def test_the_code_as_it_is_keeps_every_contract(tree):
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("tickets/sale/purchases.py", "from workers import tasks", "Floors"),
        ("tickets/selectors.py", "import storefront.views", "Floors"),
        ("payments/services.py", "import workers.payment_tasks", "Floors"),
        ("gateways/webhooks.py", "from tickets import services", "Floors"),
        ("project/queue.py", "import gateways", "Floors"),
        (
            "tickets/sale/purchases.py",
            "from payments.models import Payment",
            "never import each other",
        ),
        # Inside tickets: the seat counters' owner never calls up into a service...
        ("tickets/inventory.py", "from tickets.sale import purchases", "Inside tickets"),
        # ...a service never calls a door (its own capability's or another's)...
        (
            "tickets/waiting_list/offers.py",
            "from tickets.waiting_list import api",
            "Inside tickets",
        ),
        ("tickets/sale/payment.py", "from tickets.console import live_sale", "Inside tickets"),
        # ...and the models know nothing of the rooms above them.
        ("tickets/models.py", "from tickets import selectors", "Inside tickets"),
        # The storefront is a front end: it reads, it does not call services.
        ("storefront/views.py", "from tickets.sale import purchases", "storefront"),
    ],
)
def test_a_back_arrow_breaks_a_contract(tree, module, line, broken):
    restore = add_line(tree, module, line)
    try:
        result = lint_imports(tree)
    finally:
        restore()
    assert result.returncode != 0
    assert broken in result.stdout.split("Broken contracts")[-1]
