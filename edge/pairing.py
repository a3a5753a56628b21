"""Pairing codes made at the pile (docs/sharing.md): the owner of a private pile, at the
gateway (`jc-gateway pairing-code GUN` or the status page), gets a one-time code to register
the gun in the driver app, without an operator.

The code is made here, in the cloud's format (jcproto.pairing), shown once and never stored;
what goes to the cloud is a durable `pairing_code` event in the outbox with only its SHA-256
and expiry. Like every record it waits there while the cloud is unreachable: the code works
once the cloud holds the record (its seq acknowledged) and until it expires.

    made = make_code(store, "P1-1", now_ms, ttl_ms=24 * 3_600_000)
    made.code, made.expires_at, made.seq
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.cache import Store
from edge.records import append
from jcproto import Event
from jcproto.pairing import MAX_TTL_MS, TTL_MS, code_sha256, new_code

KIND = "pairing_code"
MIN_TTL_MS = 3_600_000  # an hour: time to reach the cloud and be typed in
__all__ = ["KIND", "MAX_TTL_MS", "MIN_TTL_MS", "TTL_MS", "MadeCode", "make_code"]


@dataclass(frozen=True)
class MadeCode:
    code: str
    gun: str
    expires_at: int  # epoch ms
    seq: int  # the outbox seq of its record: valid once the cloud acknowledged it


def make_code(store: Store, gun: str, now_ms: int, *, ttl_ms: int = TTL_MS) -> MadeCode:
    """A new code for `gun` (the caller checks that the station has it): its record in the
    outbox and the local history in one durable commit. The cloud voids the gun's older codes
    when the record arrives."""
    if not MIN_TTL_MS <= ttl_ms <= MAX_TTL_MS:
        raise ValueError(f"a code lives {MIN_TTL_MS // 3_600_000}..{MAX_TTL_MS // 3_600_000} hours")
    code = new_code()
    detail = {"gun": gun, "code_sha256": code_sha256(code), "expires_at": now_ms + ttl_ms}
    with store.transaction(durable=True):
        seq = append(store, Event(seq=0, ts=now_ms, kind=KIND, gun=gun, detail=detail))
        store.events.add(KIND, gun, detail, now_ms)
    return MadeCode(code, gun, now_ms + ttl_ms, seq)
