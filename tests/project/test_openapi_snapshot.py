"""The OpenAPI schema is a contract front ends build against: it changes only
on purpose. `make openapi` regenerates the committed snapshot, in the same
commit as the change that moves it."""

from devtools.openapi_snapshot import SNAPSHOT, schema_yaml


def test_the_schema_is_the_committed_snapshot():
    assert schema_yaml() == SNAPSHOT.read_bytes(), (
        "the OpenAPI schema changed: if on purpose, run `make openapi` and commit docs/openapi.yaml"
    )
