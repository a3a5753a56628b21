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
from typing import Any

from edge.cache import Store
from edge.records import append
from jcproto import Event
from jcproto.pairing import MAX_TTL_MS, TTL_MS, code_sha256, new_code

KIND = "pairing_code"
MIN_TTL_MS = 3_600_000  # an hour: time to reach the cloud and be typed in
__all__ = ["KIND", "MAX_TTL_MS", "MIN_TTL_MS", "TTL_MS", "MadeCode", "code_state", "make_code", "recent_codes",
           "refusal_advice"]

# What the owner should do when the cloud refused the code (the ack's `refused`, by reason):
# (中文, English). {gun} and {reason} are filled in.
ADVICE: dict[str, tuple[str, str]] = {
    "unknown_gun": (
        "云端拒绝了此码：云端不认识本站的枪 {gun}。请联系运营商在平台上添加此枪（或核对枪号），然后重新生成配对码。",
        "The cloud refused this code: it does not know gun {gun} at this station. Ask the operator to add "
        "the gun on the platform (or check the gun id), then make a new code.",
    ),
    "expired": (
        "云端拒绝了此码：云端收到时它已过期。请在网关联网时重新生成配对码。",
        "The cloud refused this code: it had expired when it reached the cloud. Make a new code while the "
        "gateway is online.",
    ),
    "expiry_too_far": (
        "云端拒绝了此码：有效期超出云端允许的最长期限（7 天）。请核对网关的时钟，然后重新生成配对码。",
        "The cloud refused this code: its expiry is further ahead than the cloud allows (a week at most). "
        "Check the gateway's clock, then make a new code.",
    ),
    "invalid": (
        "云端拒绝了此码：记录无效。请重新生成配对码；仍被拒绝时请联系运营商。",
        "The cloud refused this code: its record was invalid. Make a new code; if it is refused again, "
        "contact the operator.",
    ),
}
OTHER = (
    "云端拒绝了此码（{reason}）。请重新生成配对码；仍被拒绝时请联系运营商。",
    "The cloud refused this code ({reason}). Make a new code; if it is refused again, contact the operator.",
)


def code_state(store: Store, gun: str, expires_at: int) -> dict[str, Any]:
    """What the gateway knows of the gun's code with this expiry: `in_cloud` (no record of it
    waits in the outbox: acknowledged), `seq` (its record's seq while it waits), `state`
    (`waiting`, `in_cloud`, `refused`) and, when the cloud refused it, `refused`
    {reason, at, advice {zh, en}}."""
    seq = store.outbox.pending_pairing_code(gun, expires_at)
    row = store.pairing.find(gun, expires_at)
    refused = None
    if row is not None and row.refused_reason is not None:
        refused = {"reason": row.refused_reason, "at": row.refused_at,
                   "advice": refusal_advice(row.refused_reason, gun)}
    state = "refused" if refused else "waiting" if seq is not None else "in_cloud"
    return {"in_cloud": seq is None, "seq": seq, "acked_seq": store.outbox.acked_seq(), "state": state,
            "refused": refused}


def recent_codes(store: Store, now_ms: int) -> list[dict[str, Any]]:
    """The codes made here that have not expired, newest first (`/api/status` `pairing_codes`):
    gun, expiry, the record's seq, `state` and the refusal's reason (or null)."""
    acked = store.outbox.acked_seq()
    return [{"gun": r.gun, "expires_at": r.expires_at, "seq": r.seq,
             "state": "refused" if r.refused_reason else "waiting" if r.seq > acked else "in_cloud",
             "reason": r.refused_reason} for r in store.pairing.recent(now_ms)]


def refusal_advice(reason: str, gun: str) -> dict[str, str]:
    """What to tell the owner of a code the cloud refused, {"zh": …, "en": …}."""
    zh, en = ADVICE.get(reason, OTHER)
    return {"zh": zh.format(gun=gun, reason=reason), "en": en.format(gun=gun, reason=reason)}


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
        store.pairing.add(seq, gun, detail["code_sha256"], detail["expires_at"], now_ms)
    return MadeCode(code, gun, now_ms + ttl_ms, seq)
