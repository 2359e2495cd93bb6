"""`make openapi`: writes the OpenAPI schema to docs/openapi.yaml, the snapshot
that tests/project/test_openapi_snapshot.py holds the API to. Run with the
test suite's environment, so both see the same settings."""

from pathlib import Path

import django

SNAPSHOT = Path(__file__).resolve().parents[1] / "docs" / "openapi.yaml"


def schema_yaml() -> bytes:
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiYamlRenderer

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return OpenApiYamlRenderer().render(schema, renderer_context={})


if __name__ == "__main__":
    import conftest  # noqa: F401  (the test suite's environment)

    django.setup()
    SNAPSHOT.write_bytes(schema_yaml())
    print(f"wrote {SNAPSHOT}")
