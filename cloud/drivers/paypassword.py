"""The payment password's form (exactly six ASCII digits, not a trivial one) and its argon2id
hash (argon2-cffi's defaults, RFC 9106's low-memory profile). Six digits are only a million
choices: the lockout (`lockout.py`) is what keeps them from being guessed online, and the
hash is what keeps a stolen database from giving them away at a glance."""

from __future__ import annotations

from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cloud.drivers.errors import PaymentPasswordFormat, PaymentPasswordTooSimple

HASHER = PasswordHasher()


def check_format(value: Any, field: str = "password") -> str:
    if not (isinstance(value, str) and len(value) == 6 and value.isascii() and value.isdigit()):
        raise PaymentPasswordFormat(f"{field} must be exactly six digits, as a string", field=field)
    return value


def too_simple(pw: str) -> bool:
    """All one digit, or a run up or down (123456, 654321, 890123 does not count as a run)."""
    steps = {int(b) - int(a) for a, b in zip(pw, pw[1:], strict=False)}
    return steps in ({0}, {1}, {-1})


def check_new(value: Any, field: str = "new_password") -> str:
    pw = check_format(value, field)
    if too_simple(pw):
        raise PaymentPasswordTooSimple(f"{field} is too easy to guess", field=field)
    return pw


def hash_password(pw: str, hasher: PasswordHasher = HASHER) -> str:
    return hasher.hash(pw)


def verify(stored: str, pw: str, hasher: PasswordHasher = HASHER) -> bool:
    try:
        return hasher.verify(stored, pw)
    except VerifyMismatchError:
        return False
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str, hasher: PasswordHasher = HASHER) -> bool:
    try:
        return hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return False
