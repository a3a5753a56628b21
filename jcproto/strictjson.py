"""Parsing payloads from the network so that nothing in them can hurt the receiver.

`json.loads` accepts what a database or a schema validator later chokes on: NaN and
Infinity, numbers so large they overflow to infinity or past a 64-bit column, 4,300-digit
integers (ValueError), duplicate keys (the last silently wins, which makes a signature
ambiguous), lone surrogates and NUL characters (PostgreSQL refuses both), and nesting deep
enough to exhaust the stack of whatever walks it next. Here:

- `parse` refuses, with ProtocolError("json"), whatever is not a JSON text at all: invalid
  UTF-8, syntax errors, NaN/Infinity, non-finite numbers, nesting deeper than MAX_DEPTH.
- `problems` lists what makes an otherwise parsed value unfit to store: duplicate keys,
  strings with NUL or surrogates, integers outside a signed 64-bit column.
- `storable` is a copy of a value with those problems made harmless (bad strings escaped,
  huge integers turned into their decimal text), kept as evidence of what came.
"""

from __future__ import annotations

import json
import math
from typing import Any

from jcproto.errors import ProtocolError

MAX_DEPTH = 32  # our deepest message (a command's tariff) nests 5 levels
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class DuplicateKeys(dict):  # type: ignore[type-arg]
    """A JSON object that named some key twice (the last value is kept, as json does)."""

    duplicates: list[str]


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) == len(pairs):
        return out
    seen: set[str] = set()
    dup = DuplicateKeys(out)
    dup.duplicates = [k for k, _ in pairs if k in seen or seen.add(k)]  # type: ignore[func-returns-value]
    return dup


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} does not fit a double")
    return value


def parse(data: bytes | bytearray | str) -> Any:
    """The JSON value in `data`; ProtocolError("json") for anything that is not strict JSON."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
        value = json.loads(
            text, object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_float
        )
    except UnicodeDecodeError:
        raise ProtocolError("json", "not valid UTF-8") from None
    except json.JSONDecodeError as e:
        raise ProtocolError("json", f"not valid JSON: {e}") from None
    except RecursionError:
        raise ProtocolError("json", "JSON nested too deeply") from None
    except ValueError as e:  # NaN, Infinity, overflowing floats, integers past 4300 digits
        raise ProtocolError("json", f"not valid JSON: {str(e)[:120]}") from None
    if depth(value) > MAX_DEPTH:
        raise ProtocolError("json", f"JSON nested deeper than {MAX_DEPTH} levels")
    return value


def depth(value: Any) -> int:
    """Nesting depth of containers (a scalar is 0), computed without recursion."""
    best = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        best = max(best, level)
        stack.extend((c, level + 1) for c in children if isinstance(c, dict | list))
    return best


def _bad_text(s: str) -> str | None:
    if "\x00" in s:
        return "a NUL character"
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return "a lone surrogate"
    return None


def problems(value: Any, limit: int = 5) -> list[str]:
    """What makes `value` unfit to store as it is, as `path: what` lines (at most `limit`)."""
    found: list[str] = []
    stack: list[tuple[Any, str]] = [(value, "$")]
    while stack and len(found) < limit:
        node, path = stack.pop()
        if isinstance(node, dict):
            if isinstance(node, DuplicateKeys):
                names = ", ".join(repr(_escape(k)) for k in node.duplicates[:3])
                found.append(f"{path}: duplicate key {names}")
            for k, v in node.items():
                bad = _bad_text(k)
                if bad:
                    found.append(f"{path}: a key holds {bad}")
                stack.append((v, f"{path}.{_escape(k)[:40]}"))
        elif isinstance(node, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(node))
        elif isinstance(node, str):
            bad = _bad_text(node)
            if bad:
                found.append(f"{path}: the string holds {bad}")
        elif isinstance(node, int) and not isinstance(node, bool):
            if not INT64_MIN <= node <= INT64_MAX:
                found.append(f"{path}: integer out of the signed 64-bit range")
    return found[:limit]


def _escape(s: str) -> str:
    """`s` with NUL and surrogates written as \\u plus four hex digits (safe for any database)."""
    if _bad_text(s) is None:
        return s
    return "".join(
        f"\\u{ord(ch):04x}" if ch == "\x00" or 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in s
    )


def storable(value: Any) -> Any:
    """A copy of `value` that any database stores: see the module's docstring."""
    if isinstance(value, dict):
        return {_escape(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    if isinstance(value, str):
        return _escape(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value if INT64_MIN <= value <= INT64_MAX else str(value)
    return value


def clean_text(s: str, limit: int = 500) -> str:
    """A message fit for a text column: bad characters escaped, cut to `limit`."""
    return _escape(s)[:limit]
