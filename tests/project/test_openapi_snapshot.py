"""The OpenAPI schema is a contract front ends build against: it changes only
on purpose. `make openapi` regenerates the committed snapshot, in the same
commit as the change that moves it."""

import subprocess
import sys

from devtools.openapi_snapshot import ROOT, SNAPSHOT


def test_the_schema_is_the_committed_snapshot():
    # A fresh process: model fields cache their validators (and so the schema's bounds).
    current = subprocess.run(
        [sys.executable, "-m", "devtools.openapi_snapshot", "--stdout"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    assert current == SNAPSHOT.read_bytes(), (
        "the OpenAPI schema changed: if on purpose, run `make openapi` and commit docs/openapi.yaml"
    )
