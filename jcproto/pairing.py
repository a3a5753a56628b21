"""Pairing codes for private pile sharing (docs/sharing.md): one format for the cloud, which
issues codes for operators, and the gateway, which makes them for the owner at the pile and
reports only their SHA-256 in a `pairing_code` event (docs/protocol.md). Pure, no I/O.

    code = new_code()                      # "7K3QX0M9ZD": 10 characters of Crockford's base 32
    code_sha256(normalize(" 7k3q-x0m9zd")) == code_sha256(code)
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32: no I, L, O, U
LENGTH = 10  # 50 bits
TTL_MS = 24 * 3_600_000  # a code's default life
MAX_TTL_MS = 7 * 24 * 3_600_000  # the longest a code may live, whoever makes it


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalize(code: Any) -> str:
    """What the owner typed, as made: case, spaces and hyphens ignored; Crockford's
    look-alikes (O→0, I/L→1) read as the digits."""
    if not isinstance(code, str):
        return ""
    c = code.upper().replace(" ", "").replace("-", "")
    if not c.isascii():  # never a code; a lone surrogate ("\ud800", valid JSON) cannot even be hashed
        return ""
    return c.translate(str.maketrans({"O": "0", "I": "1", "L": "1"}))


def code_sha256(code: str) -> str:
    """The hex SHA-256 of a code as made (upper case): all the cloud ever keeps of it."""
    return hashlib.sha256(code.encode()).hexdigest()
