"""Verifying what WeChat Pay sends us: responses and notifications (`Wechatpay-*` headers).

The key is chosen by `Wechatpay-Serial`: a WeChat Pay public key (serial "PUB_KEY_ID_…", the
mode new merchants get) or a platform certificate (its serial in hex). A `KeyRing` may hold
both while a merchant moves from certificates to the public key.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from cloud.payments.errors import SignatureInvalid
from cloud.payments.wechatpay import signing

MAX_SKEW_S = 300  # WeChat: reject a timestamp more than 5 minutes from our clock
PROBE_PREFIX = "WECHATPAY/SIGNTEST/"  # WeChat's probes: a merchant that accepts them is broken
PUB_KEY_ID_PREFIX = "PUB_KEY_ID_"


def cert_serial(cert: x509.Certificate) -> str:
    """A certificate's serial as WeChat writes it (upper-case hex)."""
    return format(cert.serial_number, "X")


class KeyRing:
    """WeChat Pay's verification keys by serial."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[RSAPublicKey, datetime | None, datetime | None]] = {}

    @classmethod
    def public_key(cls, key_id: str, key: RSAPublicKey) -> KeyRing:
        return cls().add_public_key(key_id, key)

    def add_public_key(self, key_id: str, key: RSAPublicKey) -> KeyRing:
        if not key_id.startswith(PUB_KEY_ID_PREFIX):
            raise ValueError(f"a WeChat Pay public key id starts with {PUB_KEY_ID_PREFIX}: {key_id!r}")
        if not isinstance(key, RSAPublicKey) or key.key_size < 2048:
            raise ValueError("the WeChat Pay public key must be RSA of at least 2048 bits")
        self._keys[key_id] = (key, None, None)
        return self

    def add_certificate(self, cert: x509.Certificate) -> KeyRing:
        key = cert.public_key()
        if not isinstance(key, RSAPublicKey) or key.key_size < 2048:
            raise ValueError("a WeChat Pay platform certificate must hold an RSA key of at least 2048 bits")
        self._keys[cert_serial(cert)] = (key, cert.not_valid_before_utc, cert.not_valid_after_utc)
        return self

    def serials(self) -> list[str]:
        return sorted(self._keys)

    def key_for(self, serial: str, now: float) -> RSAPublicKey:
        entry = self._keys.get(serial)
        if entry is None:
            raise SignatureInvalid(f"no WeChat Pay key with serial {serial!r} is configured",
                                   code="UNKNOWN_SERIAL")
        key, not_before, not_after = entry
        at = datetime.fromtimestamp(now, UTC)
        if (not_before and at < not_before) or (not_after and at > not_after):
            raise SignatureInvalid(f"platform certificate {serial} is not valid at {at:%Y-%m-%dT%H:%M:%SZ}",
                                   code="UNKNOWN_SERIAL")
        return key


class ReplayGuard(Protocol):
    def first_time(self, key: str, now: float, ttl_s: float) -> bool:
        """True the first time `key` is seen within `ttl_s`; False for a repeat."""
        ...


class MemoryReplayGuard:
    """Per-process memory of signatures seen in the last few minutes (thread-safe).

    Entries expire in insertion order (the TTL is constant), so pruning pops from the front;
    `max_entries` bounds memory under a flood (the oldest are forgotten first; the ledger's
    credit-once rule still holds for anything forgotten).
    """

    def __init__(self, max_entries: int = 200_000) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def first_time(self, key: str, now: float, ttl_s: float) -> bool:
        with self._lock:
            while self._seen:
                oldest, expires = next(iter(self._seen.items()))
                if expires >= now and len(self._seen) < self.max_entries:
                    break
                del self._seen[oldest]
            expires = self._seen.pop(key, None)  # re-inserted at the end: order stays by expiry
            if expires is not None and expires >= now:
                self._seen[key] = expires
                return False
            self._seen[key] = now + ttl_s
            return True


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup over any mapping (HTTP header names are case-insensitive)."""
    if name in headers:
        return headers[name]
    low = name.lower()
    for k, v in headers.items():
        if k.lower() == low:
            return v
    return None


def verify_signed(keys: KeyRing, headers: Mapping[str, str], body: bytes, *, now: float,
                  replay_guard: ReplayGuard | None = None, max_skew_s: int = MAX_SKEW_S) -> str:
    """Check the Wechatpay-* headers over the raw body; the serial used, or SignatureInvalid."""
    ts = header(headers, "Wechatpay-Timestamp")
    nonce = header(headers, "Wechatpay-Nonce")
    signature = header(headers, "Wechatpay-Signature")
    serial = header(headers, "Wechatpay-Serial")
    missing = [n for n, v in (("Wechatpay-Timestamp", ts), ("Wechatpay-Nonce", nonce),
                              ("Wechatpay-Signature", signature), ("Wechatpay-Serial", serial)) if not v]
    if missing:
        raise SignatureInvalid(f"missing {', '.join(missing)}", code="SIGNATURE_MISSING")
    assert ts is not None and nonce is not None and signature is not None and serial is not None
    sig_type = header(headers, "Wechatpay-Signature-Type")
    if sig_type and sig_type != signing.SCHEMA:
        raise SignatureInvalid(f"signature type {sig_type!r} is not {signing.SCHEMA}",
                               code="UNSUPPORTED_SIGNATURE_TYPE")
    if signature.startswith(PROBE_PREFIX):
        raise SignatureInvalid("a WeChat Pay signature probe (WECHATPAY/SIGNTEST/): refused as it must be",
                               code="SIGNATURE_PROBE")
    try:
        ts_int = int(ts)
    except ValueError:
        raise SignatureInvalid(f"Wechatpay-Timestamp {ts!r} is not an integer",
                               code="STALE_TIMESTAMP") from None
    if abs(now - ts_int) > max_skew_s:
        raise SignatureInvalid(f"Wechatpay-Timestamp {ts_int} is {int(now - ts_int)} s from our clock "
                               f"(more than {max_skew_s} s)", code="STALE_TIMESTAMP")
    key = keys.key_for(serial, now)
    if not signing.verify(key, signing.response_message(ts, nonce, body), signature):
        raise SignatureInvalid("Wechatpay-Signature does not verify over the body", code="BAD_SIGNATURE")
    if replay_guard is not None:
        digest = hashlib.sha256(signature.encode()).hexdigest()
        if not replay_guard.first_time(digest, now, 2 * max_skew_s):
            raise SignatureInvalid("this exact signed message was already received", code="REPLAYED")
    return serial
