"""`make openapi`: writes the OpenAPI schema to docs/openapi.yaml, the snapshot
that tests/project/test_openapi_snapshot.py holds the API to. Run with the
test suite's environment, so both see the same settings."""

from pathlib import Path

import django

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "docs" / "openapi.yaml"


def schema_yaml() -> bytes:
    """The schema production (PostgreSQL) serves, whatever database this process
    uses: SQLite enforces no integer bounds, so Django gives its fields none and
    the schema would lose its `maximum`s. Model fields cache their validators, so
    this must run in a fresh process, before any field has been validated."""
    from django.db import connection
    from django.db.backends.base.operations import BaseDatabaseOperations
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiYamlRenderer

    connection.ops.integer_field_range = BaseDatabaseOperations.integer_field_range.__get__(
        connection.ops
    )
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return OpenApiYamlRenderer().render(schema, renderer_context={})


if __name__ == "__main__":
    import sys

    import conftest  # noqa: F401  (the test suite's environment)

    django.setup()
    if "--stdout" in sys.argv:
        sys.stdout.buffer.write(schema_yaml())
    else:
        SNAPSHOT.write_bytes(schema_yaml())
        print(f"wrote {SNAPSHOT}")
