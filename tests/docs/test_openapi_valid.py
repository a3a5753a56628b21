"""Every OpenAPI file in docs/api/ is valid OpenAPI 3.1, and its schemas are valid JSON Schema."""

from __future__ import annotations

import copy

import jsonschema
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator
from openapi_spec_validator.readers import read_from_filename

from tests.docs.openapi_support import API_DIR, METHODS, operations

FILES = sorted(API_DIR.glob("*.openapi.yaml"))


def test_the_two_api_documents_exist() -> None:
    assert {f.name for f in FILES} >= {"gateway.openapi.yaml", "cloud.openapi.yaml"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_valid_openapi_31(path) -> None:
    spec, _ = read_from_filename(str(path))
    assert str(spec["openapi"]).startswith("3.1."), f"{path.name}: openapi is {spec['openapi']!r}, not 3.1.x"
    OpenAPIV31SpecValidator(spec).validate()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_schemas_are_json_schema_and_operations_have_success(path) -> None:
    spec, _ = read_from_filename(str(path))
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"{path.name}: components.schemas.{name}: {exc.message}")
    assert operations(spec), f"{path.name} describes no operation"
    for p, item in spec["paths"].items():
        for method in (m for m in item if m in METHODS):
            codes = item[method]["responses"]
            assert any(c.startswith("2") for c in codes), f"{path.name}: {method.upper()} {p} has no 2xx answer"


def test_the_validator_is_not_blind() -> None:
    """A broken document is refused (so a green run above means something)."""
    spec, _ = read_from_filename(str(API_DIR / "gateway.openapi.yaml"))
    broken = copy.deepcopy(dict(spec))
    del broken["paths"]["/api/status"]["get"]["responses"]
    broken["info"].pop("version")
    assert list(OpenAPIV31SpecValidator(broken).iter_errors())


def test_the_response_checker_is_not_blind() -> None:
    """A wrong answer fails the check (so the API tests' green means something)."""
    from tests.docs.openapi_support import ResponseChecker, load_spec

    gateway = ResponseChecker(load_spec("gateway"))
    with pytest.raises(AssertionError, match="breaks the documented schema"):
        gateway(path="/api/sessions/stop", method="post", status=200, content_type="application/json",
                body={"ok": "yes"})
    with pytest.raises(AssertionError, match="does not list"):
        gateway(path="/api/status", method="get", status=418, content_type="application/json", body={})
    cloud = ResponseChecker(load_spec("cloud"))
    with pytest.raises(AssertionError):
        cloud.component("Error", {"error": "not_found"})
