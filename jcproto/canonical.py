"""Canonical JSON: the exact bytes that a signature covers.

Keys sorted (by code point), no whitespace, non-ASCII characters as UTF-8 (not escaped),
numbers as Python's json writes them. Signed records hold only integers, strings, booleans
and null, whose forms leave no room for two encoders to disagree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

SIGNATURE_FIELD = "signature"


def canonical_json(obj: Any) -> bytes:
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def signing_bytes(record: Mapping[str, Any]) -> bytes:
    """The canonical form of a record without its `signature` field."""
    return canonical_json({k: v for k, v in record.items() if k != SIGNATURE_FIELD})
