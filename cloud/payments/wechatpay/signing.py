"""WeChat Pay API v3 signatures (pure functions, no I/O).

Every signed message is lines joined with "\\n" and ending in "\\n", signed SHA256withRSA
(PKCS#1 v1.5) and base64-encoded:
- request:  METHOD, PATH?QUERY, TIMESTAMP, NONCE, BODY → `Authorization: WECHATPAY2-SHA256-RSA2048 …`
- response and notification: TIMESTAMP, NONCE, BODY (raw bytes) → `Wechatpay-Signature`
- wx.requestPayment: appId, timeStamp, nonceStr, "prepay_id=…" → `paySign`
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import string

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

SCHEMA = "WECHATPAY2-SHA256-RSA2048"
_NONCE_ALPHABET = string.ascii_uppercase + string.digits


def new_nonce(length: int = 32) -> str:
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(length))


def message(*parts: str | bytes) -> bytes:
    """Each part followed by "\\n"; bytes parts (bodies) are taken exactly as sent."""
    out = bytearray()
    for part in parts:
        out += part if isinstance(part, bytes) else part.encode("utf-8")
        out += b"\n"
    return bytes(out)


def sign(private_key: RSAPrivateKey, msg: bytes) -> str:
    return base64.b64encode(private_key.sign(msg, padding.PKCS1v15(), hashes.SHA256())).decode()


def verify(public_key: RSAPublicKey, msg: bytes, signature_b64: str) -> bool:
    try:
        raw = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    # Only the canonical spelling: base64's unused low bits would give one signature several
    # spellings, and a replay guard keyed on the header must not see a respelt one as new.
    if base64.b64encode(raw).decode() != signature_b64:
        return False
    try:
        public_key.verify(raw, msg, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def request_message(method: str, path_query: str, timestamp: int | str, nonce: str,
                    body: bytes) -> bytes:
    return message(method.upper(), path_query, str(timestamp), nonce, body)


def response_message(timestamp: int | str, nonce: str, body: bytes) -> bytes:
    return message(str(timestamp), nonce, body)


def pay_sign_message(app_id: str, time_stamp: str, nonce_str: str, package: str) -> bytes:
    return message(app_id, time_stamp, nonce_str, package)


def authorization(*, mchid: str, serial_no: str, private_key: RSAPrivateKey, method: str,
                  path_query: str, body: bytes, timestamp: int, nonce: str) -> str:
    if not re.fullmatch(r"[0-9A-Za-z]{1,32}", nonce):
        raise ValueError("nonce_str must be 1-32 letters and digits")
    signature = sign(private_key, request_message(method, path_query, timestamp, nonce, body))
    return (f'{SCHEMA} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
            f'timestamp="{timestamp}",serial_no="{serial_no}"')


_PARAM = re.compile(r'\s*([a-z_]+)="([^"]*)"\s*(?:,|$)')


def parse_authorization(header: str) -> dict[str, str]:
    """The fields of an Authorization header; ValueError naming what is wrong."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme != SCHEMA:
        raise ValueError(f"authorization scheme {scheme!r} is not {SCHEMA}")
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if not m:
            raise ValueError(f"cannot parse authorization parameters at {rest[pos:pos + 20]!r}")
        if m.group(1) in fields:
            raise ValueError(f"authorization parameter {m.group(1)} given twice")
        fields[m.group(1)] = m.group(2)
        pos = m.end()
    missing = {"mchid", "nonce_str", "signature", "timestamp", "serial_no"} - fields.keys()
    if missing:
        raise ValueError(f"authorization lacks {', '.join(sorted(missing))}")
    return fields
