"""The field rules WeChat Pay documents, checked before anything is sent (pure).

Each check raises `InvalidPaymentRequest(field, message)`. The same functions are used by
the fake server, so a request our client would refuse is refused there too.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from urllib.parse import urlsplit

from cloud.payments.errors import InvalidPaymentRequest

OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_\-|*]{6,32}")
OUT_REFUND_NO = re.compile(r"[0-9A-Za-z_\-|*@]{1,64}")
MAX_TOTAL_FEN = 10**10  # far above any limit WeChat applies; guards int32-style overflow bugs


def out_trade_no(value: object, field: str = "out_trade_no") -> str:
    if not isinstance(value, str) or not OUT_TRADE_NO.fullmatch(value):
        raise InvalidPaymentRequest(field, f"{value!r} must be 6-32 characters of 0-9 A-Z a-z _ - | *")
    return value


def out_refund_no(value: object, field: str = "out_refund_no") -> str:
    if not isinstance(value, str) or not OUT_REFUND_NO.fullmatch(value):
        raise InvalidPaymentRequest(field, f"{value!r} must be 1-64 characters of 0-9 A-Z a-z _ - | * @")
    return value


def text(value: object, field: str, max_len: int, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidPaymentRequest(field, "must be a non-empty string")
    if len(value) > max_len:
        raise InvalidPaymentRequest(field, f"is {len(value)} characters, at most {max_len} are allowed")
    if any(ord(c) < 0x20 for c in value):
        raise InvalidPaymentRequest(field, "must not contain control characters")
    return value


def fen(value: object, field: str, *, minimum: int = 1) -> int:
    # bool is an int in Python; an amount of True fen is a bug, not a payment
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidPaymentRequest(field, f"{value!r} must be an integer number of fen")
    if not minimum <= value <= MAX_TOTAL_FEN:
        raise InvalidPaymentRequest(field, f"{value} fen is outside {minimum}..{MAX_TOTAL_FEN}")
    return value


def notify_url(value: object, field: str = "notify_url") -> str:
    if not isinstance(value, str) or not value:
        raise InvalidPaymentRequest(field, "must be set (an https URL WeChat can reach)")
    if len(value) > 255:
        raise InvalidPaymentRequest(field, f"is {len(value)} characters, at most 255 are allowed")
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise InvalidPaymentRequest(field, f"{value!r} must be an absolute https:// URL")
    if parts.query or parts.fragment or "?" in value:
        raise InvalidPaymentRequest(field, f"{value!r} must not carry a query string or fragment")
    return value


def time_expire(value: datetime | None, now: datetime, field: str = "time_expire") -> str | None:
    """RFC 3339 with the offset, e.g. 2026-12-02T10:34:56+08:00; must be in the future."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidPaymentRequest(field, "must be timezone-aware")
    if value <= now:
        raise InvalidPaymentRequest(field, f"{value.isoformat()} is not in the future")
    return value.replace(microsecond=0).isoformat()


def parse_rfc3339(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo is not None else None


OUT_BILL_NO = re.compile(r"[0-9A-Za-z]{1,32}")


def out_bill_no(value: object, field: str = "out_bill_no") -> str:
    if not isinstance(value, str) or not OUT_BILL_NO.fullmatch(value):
        raise InvalidPaymentRequest(field, f"{value!r} must be 1-32 letters and digits")
    return value


def client_ip(value: object, field: str = "payer_client_ip") -> str:
    """The payer's IP address as WeChat takes it (IPv4 or IPv6, no port)."""
    if not isinstance(value, str) or not value:
        raise InvalidPaymentRequest(field, "must be the payer's IP address")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise InvalidPaymentRequest(field, f"{value!r} is not an IP address") from None


H5_TYPES = ("iOS", "Android", "Wap")
