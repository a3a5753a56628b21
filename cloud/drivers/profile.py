"""A driver's own fields, checked (pure): nickname, avatar URL, phone number.

Each `clean_*` takes what a client sent (any JSON value) and returns what to store, or
raises `InvalidField` / `InvalidPhone` naming the field. `None` clears a field.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import urlsplit

from cloud.drivers.errors import InvalidField, InvalidPhone

NICKNAME_MAX = 64
AVATAR_URL_MAX = 512
# Mainland China mobile numbers: 11 digits, 1 then 3-9 (MIIT numbering plan).
_CN_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_PHONE_SEPARATORS = re.compile(r"[\s\-()]")
# Bidirectional overrides and isolates: they make a name display as something else.
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
FIELDS = ("nickname", "avatar_url", "phone")


def _text(field: str, value: Any, max_len: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidField(f"{field} must be a string or null", field=field)
    text = value.strip()
    if not text:
        raise InvalidField(f"{field} is empty (send null to clear it)", field=field)
    if len(text) > max_len:
        raise InvalidField(f"{field} is longer than {max_len} characters", field=field, max=max_len)
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cs", "Co", "Cn", "Zl", "Zp") or ch in _BIDI:
            raise InvalidField(f"{field} holds a control or unassigned character", field=field)
    return text


def clean_nickname(value: Any) -> str | None:
    return _text("nickname", value, NICKNAME_MAX)


def clean_avatar_url(value: Any) -> str | None:
    text = _text("avatar_url", value, AVATAR_URL_MAX)
    if text is None:
        return None
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if (parts is None or parts.scheme != "https" or not host or parts.username or parts.password
            or any(ch.isspace() for ch in text) or not text.isascii()):
        raise InvalidField("avatar_url must be an https:// URL (ASCII, no spaces, no user:password@)",
                           field="avatar_url")
    return text


def clean_phone(value: Any) -> str | None:
    """'138 0013 8000', '+86 138-0013-8000' and '8613800138000' all give '13800138000'."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidPhone("phone must be a string or null", field="phone")
    digits = _PHONE_SEPARATORS.sub("", value)
    if len(value) > 32:
        raise InvalidPhone("phone is too long", field="phone")
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if not (digits.isascii() and _CN_MOBILE.fullmatch(digits)):
        raise InvalidPhone("phone must be a mainland China mobile number: 11 digits starting 13-19",
                           field="phone")
    return digits


CLEANERS = {"nickname": clean_nickname, "avatar_url": clean_avatar_url, "phone": clean_phone}


def clean_changes(body: Any) -> dict[str, str | None]:
    """The changes a PATCH asks for: a JSON object with some of FIELDS, nothing else."""
    if not isinstance(body, dict):
        raise InvalidField("send a JSON object", field=None)
    unknown = sorted(str(k) for k in body if k not in CLEANERS)
    if unknown:
        raise InvalidField(f"unknown field {unknown[0]!r} (allowed: {', '.join(FIELDS)})", field=unknown[0])
    if not body:
        raise InvalidField(f"nothing to change: send one or more of {', '.join(FIELDS)}", field=None)
    return {key: CLEANERS[key](value) for key, value in body.items()}
