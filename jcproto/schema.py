"""JSON Schemas of protocol v1 (`schemas/*.json`, Draft 2020-12) and validation against them.

Two interchangeable back ends: `jsonschema` (pure Python, always there) and `jsonschema_rs`
(Rust, ~50x faster; used when installed, which the cloud extra does, because ingest validates
tens of thousands of records a second). `tests/protocol` checks that both agree. Set
`JC_SCHEMA_BACKEND=python` to force the pure one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any, Literal

from jcproto.errors import ProtocolError

SCHEMA_DIR = Path(__file__).with_name("schemas")
BASE_URI = "https://schemas.juchong.invalid/mqtt/v1/"
Backend = Literal["python", "rust"]


@cache
def schemas() -> dict[str, dict[str, Any]]:
    """Every shipped schema by name (file name without `.json`)."""
    return {p.stem: json.loads(p.read_text("utf-8")) for p in sorted(SCHEMA_DIR.glob("*.json"))}


def schema_names() -> list[str]:
    return [n for n in schemas() if n != "defs"]


def _default_backend() -> Backend:
    wanted = os.environ.get("JC_SCHEMA_BACKEND", "").strip().lower()
    if wanted in ("python", "rust"):
        return wanted  # type: ignore[return-value]
    try:
        import jsonschema_rs  # noqa: F401
    except ImportError:
        return "python"
    return "rust"


class _Checker:
    """One compiled schema: `is_valid` for the hot path, `errors` for the messages."""

    def __init__(self, is_valid: Callable[[Any], bool], errors: Callable[[Any], Iterator[str]]):
        self.is_valid = is_valid
        self.errors = errors


def _python_checker(ref: str) -> _Checker:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    registry: Registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s, default_specification=DRAFT202012))
        for s in schemas().values()
    )
    validator = Draft202012Validator({"$ref": ref}, registry=registry)

    def errors(obj: Any) -> Iterator[str]:
        for e in validator.iter_errors(obj):
            yield f"{e.json_path}: {e.message}"

    return _Checker(validator.is_valid, errors)


def _rust_checker(ref: str) -> _Checker:
    import jsonschema_rs

    registry = jsonschema_rs.Registry([(s["$id"], s) for s in schemas().values()])
    validator = jsonschema_rs.Draft202012Validator({"$ref": ref}, registry=registry)

    def errors(obj: Any) -> Iterator[str]:
        for e in validator.iter_errors(obj):
            path = "$" + "".join(
                f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.instance_path
            )
            yield f"{path}: {e.message}"

    return _Checker(validator.is_valid, errors)


@cache
def checker(name: str, backend: Backend | None = None) -> _Checker:
    """The checker for schema `name` (e.g. "up", "record_event") or a `defs.json#/...` pointer."""
    ref = BASE_URI + (name if "#" in name else f"{name}.json")
    if "#" not in name and name not in schemas():
        raise KeyError(f"no schema {name!r}; shipped: {', '.join(schema_names())}")
    backend = backend or _default_backend()
    return _rust_checker(ref) if backend == "rust" else _python_checker(ref)


def is_valid(name: str, obj: Any) -> bool:
    return checker(name).is_valid(obj)


def errors(name: str, obj: Any, limit: int = 5) -> list[str]:
    """Up to `limit` human-readable errors of `obj` against schema `name`; empty when valid."""
    out: list[str] = []
    for message in checker(name).errors(obj):
        out.append(message)
        if len(out) >= limit:
            break
    return out


def validate(name: str, obj: Any) -> None:
    """Raise ProtocolError ("version" or "schema") unless `obj` is a valid `name` payload."""
    if checker(name).is_valid(obj):
        return
    if isinstance(obj, dict) and "v" in schemas().get(name, {}).get("required", ()):
        check_version(obj)
    problems = errors(name, obj) or ["invalid"]
    raise ProtocolError("schema", f"{name}: " + "; ".join(problems))


def check_version(obj: dict[str, Any]) -> None:
    """Raise ProtocolError("version") unless obj["v"] is exactly the integer 1."""
    v = obj.get("v")
    if type(v) is not int or v != 1:  # bool is an int subclass: `true` is not version 1
        raise ProtocolError("version", f"unsupported protocol version v={v!r}; expected 1")
