"""Driver tokens: opaque, random, given once at login; only their SHA-256 is stored.

They start `jcd_` and tool API tokens `jct_` (cloud/api/auth.py): each side refuses the
other's by its prefix before any lookup, and the two are kept in different tables.
"""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "jcd_"
MAX_LEN = 128  # a real one is 47 characters


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def well_formed(token: str) -> bool:
    return token.startswith(PREFIX) and len(token) <= MAX_LEN and token.isascii()
