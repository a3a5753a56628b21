"""Reading the OpenAPI files in docs/api/ and checking real answers against them.

    spec = load_spec("gateway")                     # the YAML as a dict
    check = ResponseChecker(spec)
    check(path="/api/status", method="get", status=200, content_type="application/json",
          body=json.loads(raw))                     # AssertionError naming what breaks the schema
    check.seen                                      # {(path, method, status)} checked so far
    check.component("Error", body)                  # against components/schemas/Error (e.g. a 404)

Schemas are validated with `jsonschema` (Draft 2020-12, OpenAPI 3.1's dialect); every `$ref`
resolves against the whole OpenAPI document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
from openapi_spec_validator.readers import read_from_filename
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

REPO = Path(__file__).resolve().parents[2]
API_DIR = REPO / "docs" / "api"
SPEC_URI = "urn:juchong:openapi"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def load_spec(name: str) -> dict[str, Any]:
    spec, _ = read_from_filename(str(API_DIR / f"{name}.openapi.yaml"))
    return dict(spec)


def operations(spec: dict[str, Any]) -> set[tuple[str, str]]:
    """Every (path, method) the document describes."""
    return {(path, m) for path, item in spec["paths"].items() for m in item if m in METHODS}


def _pointer(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local $refs are used here: {ref}"
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


class ResponseChecker:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.registry = Registry().with_resource(
            SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012))
        self.seen: set[tuple[str, str, int]] = set()

    def template(self, path: str) -> str:
        """The documented path a concrete one matches: '/api/alarms/x/clear' → '/api/alarms/{key}/clear'."""
        if path in self.spec["paths"]:
            return path
        parts = path.strip("/").split("/")
        for doc_path in self.spec["paths"]:
            doc_parts = doc_path.strip("/").split("/")
            if len(doc_parts) == len(parts) and all(
                    d == p or (d.startswith("{") and d.endswith("}")) for d, p in zip(doc_parts, parts, strict=True)):
                return doc_path
        raise KeyError(path)

    def response(self, path: str, method: str, status: int) -> dict[str, Any]:
        path = self.template(path)
        op = self.spec["paths"][path][method]
        responses = op["responses"]
        key = str(status)
        assert key in responses, (f"{method.upper()} {path} answered {status}, which the document does not list "
                                  f"(it lists {sorted(responses)})")
        resp = responses[key]
        while "$ref" in resp:
            resp = _pointer(self.spec, resp["$ref"])
        return resp

    def __call__(self, *, path: str, method: str, status: int, content_type: str, body: Any) -> None:
        method = method.lower()
        path = self.template(path)
        resp = self.response(path, method, status)
        content = resp.get("content", {})
        if not content:  # a response documented without a body (304 Not Modified) has none
            assert body is None, f"{method.upper()} {path} {status} is documented without a body; it had one"
            self.seen.add((path, method, status))
            return
        media = content_type.split(";")[0].strip()
        assert media in content, (f"{method.upper()} {path} {status} answered {media}; "
                                  f"the document says {sorted(content)}")
        pointer = "/".join(["#", "paths", path.replace("~", "~0").replace("/", "~1"), method, "responses",
                            str(status)])
        schema_ref = f"{SPEC_URI}{pointer}"
        raw = self.spec["paths"][path][method]["responses"][str(status)]
        if "$ref" in raw:
            schema_ref = f"{SPEC_URI}{raw['$ref']}"
        schema = {"$ref": f"{schema_ref}/content/{media.replace('/', '~1')}/schema"}
        validator = jsonschema.Draft202012Validator(schema, registry=self.registry)
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        assert not errors, (f"{method.upper()} {path} {status}: the answer breaks the documented schema:\n"
                            + "\n".join(f"  at /{'/'.join(map(str, e.absolute_path))}: {e.message}"
                                        for e in errors[:10]))
        self.seen.add((path, method, status))

    def component(self, name: str, body: Any) -> None:
        """Validate against `components/schemas/<name>` (answers to paths or methods the
        document cannot list as operations: an unknown path, a wrong method)."""
        validator = jsonschema.Draft202012Validator({"$ref": f"{SPEC_URI}#/components/schemas/{name}"},
                                                    registry=self.registry)
        errors = list(validator.iter_errors(body))
        assert not errors, f"breaks components.schemas.{name}: " + "; ".join(e.message for e in errors[:10])
