"""Dataclass <-> JSON machinery shared by messages, records and commands.

A dataclass field maps to the JSON key of the same name. Nested dataclasses are named in the
field's metadata (`nested(Limit)`, `nested_list(GunTelemetry)`); fields marked `omit_none()`
are left out of the JSON while None (optional keys), all other None values are written as
null (keys the spec requires but allows to be empty). Unknown keys in incoming JSON are
ignored: a peer may add optional fields (spec/mqtt-v1.md).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from jcproto import schema, strictjson
from jcproto.errors import ProtocolError


def nested(cls: type) -> dict[str, Any]:
    return {"nested": cls}


def nested_list(cls: type) -> dict[str, Any]:
    return {"nested_list": cls}


def omit_none() -> dict[str, Any]:
    return {"omit_none": True}


def encode(obj: Any) -> Any:
    """A dataclass (or list/dict of them) as plain JSON-ready values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if value is None and f.metadata.get("omit_none"):
                continue
            out[f.name] = encode(value)
        return out
    if isinstance(obj, list | tuple):
        return [encode(x) for x in obj]
    if isinstance(obj, dict):
        return {k: encode(v) for k, v in obj.items()}
    return obj


def decode(cls: type, data: Mapping[str, Any]) -> Any:
    """Build dataclass `cls` from an (already validated) mapping."""
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init or f.name not in data:
            continue
        value = data[f.name]
        if value is not None and "nested" in f.metadata:
            value = decode(f.metadata["nested"], value)
        elif value is not None and "nested_list" in f.metadata:
            value = [decode(f.metadata["nested_list"], x) for x in value]
        kwargs[f.name] = value
    return cls(**kwargs)


def loads(data: str | bytes | bytearray) -> dict[str, Any]:
    """Parse a payload that must be a JSON object; ProtocolError("json") otherwise (strict:
    no NaN or Infinity, no invalid UTF-8, bounded nesting; see strictjson)."""
    obj = strictjson.parse(data)
    if not isinstance(obj, dict):
        raise ProtocolError("json", f"payload must be a JSON object, not {type(obj).__name__}")
    return obj


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class Payload:
    """Base of the top-level messages: adds `"v": 1`, validates both ways."""

    SCHEMA: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        return {"v": 1, **encode(self)}

    def to_json(self) -> str:
        """The wire form; raises ProtocolError if this message breaks its schema."""
        data = self.to_dict()
        schema.validate(self.SCHEMA, data)
        return dumps(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        schema.validate(cls.SCHEMA, data)
        return decode(cls, data)

    @classmethod
    def from_json(cls, data: str | bytes | bytearray) -> Self:
        return cls.from_dict(loads(data))
