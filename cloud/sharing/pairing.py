"""Proof of ownership for registering a private pile: one-time pairing codes (docs/sharing.md).

Anyone can read a gun's QR code, so knowing it proves nothing. An operator who has checked
the owner (the installation record, the home's papers) issues a pairing code for that one
gun — in the console or with `jc-cloud sharing pairing-code SID GUN` — and hands it to the
owner (printed with the installation papers, read out on the phone). Or the owner, at the
pile, gets one from its gateway, which reports only the code's hash and expiry in a
`pairing_code` event; ingest makes the code from it (`from_gateway`). The driver registers
with the gun's QR code and the pairing code:

- bound to the station sid and gun it was issued for (another gun's code never matches);
- single use (the row is locked while it is checked and marked used);
- expiring (`ttl_ms`, a day by default); a new code for the gun voids the older live ones;
- brute-force limited twice: a code is void after `CODE_MAX_FAILURES` wrong guesses at its
  gun (whoever guessed), and a driver is refused (`pairing_locked`, retry time given) after
  `DRIVER_MAX_FAILURES` wrong codes within `DRIVER_WINDOW_MS`.

Codes are 10 characters of Crockford's base 32 (no I, L, O, U: read out without confusion),
about 50 bits; only their SHA-256 is stored. Plain functions, no Flask request objects.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cloud.db import take_write_lock
from cloud.drivers.models import Driver
from cloud.models.base import now_ms
from cloud.models.station import Gun
from cloud.sharing import service as sharing
from cloud.sharing.models import PairingCode, PairingFailure
from cloud.sharing.service import SharingError
from cloud.stations import service as stations
from jcproto.pairing import ALPHABET as ALPHABET  # one format for the cloud and the gateway
from jcproto.pairing import LENGTH as LENGTH
from jcproto.pairing import MAX_TTL_MS, TTL_MS, code_sha256, new_code
from jcproto.pairing import normalize as normalize

CODE_MAX_FAILURES = 5
DRIVER_MAX_FAILURES = 5
DRIVER_WINDOW_MS = 15 * 60_000


class PairingLocked(SharingError):
    def __init__(self, retry_at: int) -> None:
        super().__init__("pairing_locked", "too many wrong pairing codes: wait before trying again")
        self.retry_at = retry_at


def _hash(code: str) -> str:
    return code_sha256(code)


def issue(
    s: Session, sid: str, gun: str, *, issued_by: str, now: int | None = None, ttl_ms: int = TTL_MS
) -> tuple[str, int]:
    """A new code for the gun (older live codes of it void): (the code, expires_at). Shown
    once; only its hash is kept."""
    if s.get(Gun, (sid, gun)) is None:
        raise SharingError("gun_not_found", f"no gun {gun!r} at station {sid!r}")
    t = now_ms() if now is None else now
    code = new_code()
    _add(s, sid, gun, _hash(code), t + ttl_ms, issued_by, t)
    return code, t + ttl_ms


def _add(s: Session, sid: str, gun: str, code_hash: str, expires_at: int, issued_by: str, t: int) -> PairingCode:
    s.execute(
        update(PairingCode)
        .where(
            PairingCode.sid == sid,
            PairingCode.gun == gun,
            PairingCode.used_at.is_(None),
            PairingCode.voided_at.is_(None),
        )
        .values(voided_at=t)
    )
    row = PairingCode(
        sid=sid,
        gun=gun,
        code_hash=code_hash,
        expires_at=expires_at,
        failures=0,
        issued_by=issued_by[:120],
        created_at=t,
    )
    s.add(row)
    s.flush()
    return row


HEX64 = re.compile(r"[0-9a-f]{64}")
# A gateway's clock may run a little ahead of the cloud's: its longest code is still taken.
CLOCK_SLACK_MS = 10 * 60_000


# What the cloud tells a gateway when it makes no code of its `pairing_code` event (the ack's
# `refused`, docs/protocol.md): stable reasons, by the SharingError code `from_gateway` raised.
GATEWAY_REFUSALS = {
    "gun_not_found": "unknown_gun",
    "pairing_expired": "expired",
    "pairing_expiry_too_far": "expiry_too_far",
    "pairing_detail_invalid": "invalid",
}
REFUSED_AUDIT = "sharing.pairing_code_refused"


def gateway_refusal(code: object) -> str:
    """The stable reason a gateway is told for a refusal with SharingError code `code`."""
    return GATEWAY_REFUSALS.get(code, "refused") if isinstance(code, str) else "refused"


def gateway_actor(sid: str) -> str:
    """Who issued a code the station's gateway made (audit actor and `issued_by`)."""
    return f"gateway:{sid}"


def from_gateway(
    s: Session, sid: str, gun: Any, detail: Any, *, seq: int, now: int | None = None
) -> PairingCode | None:
    """A `pairing_code` event from station `sid`'s gateway (docs/protocol.md): a code the owner
    got at the pile, of which the gateway sent the SHA-256 and expiry. Makes the gun's pairing
    code as `issue` does (older live codes void, the same expiry cap), audited with the
    station's gateway as who issued it. `sid` is the sender's identity (the topic the broker
    let it publish on), so a station makes codes only for its own guns. None when this code is
    already held for the gun (a replay or a renumbered copy of the record makes nothing).
    SharingError `pairing_detail_invalid`, `gun_not_found`, `pairing_expired`,
    `pairing_expiry_too_far`: the caller logs it and keeps the record as evidence."""
    from cloud.audit import service as audit

    t = now_ms() if now is None else now
    d = detail if isinstance(detail, dict) else {}
    h, exp, dgun = d.get("code_sha256"), d.get("expires_at"), d.get("gun")
    if (
        not isinstance(h, str)
        or not HEX64.fullmatch(h)
        or type(exp) is not int
        or not isinstance(gun, str)
        or dgun != gun
    ):
        raise SharingError(
            "pairing_detail_invalid", "detail needs gun (the record's), code_sha256 (64 hex) and expires_at (ms)"
        )
    if s.get(Gun, (sid, gun)) is None:
        raise SharingError("gun_not_found", f"no gun {gun!r} at station {sid!r}")
    if exp <= t:
        raise SharingError("pairing_expired", f"the code expired at {exp} before it reached the cloud")
    if exp > t + MAX_TTL_MS + CLOCK_SLACK_MS:
        raise SharingError("pairing_expiry_too_far", f"expires_at {exp} is beyond the longest life of a code")
    held = s.scalar(
        select(PairingCode.id).where(PairingCode.sid == sid, PairingCode.gun == gun, PairingCode.code_hash == h)
    )
    if held is not None:
        return None
    actor = gateway_actor(sid)
    row = _add(s, sid, gun, h, exp, actor, t)
    # the hash is not written down either: the audit says that the gateway issued one, and when
    # the sid in full too: the actor column holds 64 characters, a sid up to 64 after "gateway:"
    audit.record(s, actor, "sharing.pairing_code", f"gun:{sid}/{gun}", {"expires_at": exp, "seq": seq, "sid": sid},
                 ts=t)
    return row


def _driver_lock(s: Session, driver_id: str, now: int) -> None:
    since = now - DRIVER_WINDOW_MS
    rows = s.scalars(
        select(PairingFailure.at)
        .where(PairingFailure.driver_id == driver_id, PairingFailure.at > since)
        .order_by(PairingFailure.at)
    ).all()
    if len(rows) >= DRIVER_MAX_FAILURES:
        raise PairingLocked(rows[len(rows) - DRIVER_MAX_FAILURES] + DRIVER_WINDOW_MS)


def claim(
    s: Session, driver_id: str, sid: str, gun: str, code: Any, *, now: int | None = None
) -> PairingCode | None:
    """Check `code` for the gun and use it up: the code's row, or None for a wrong, used,
    void or expired code — in which case the failure is recorded (the caller commits it and
    then refuses: `pairing_code_invalid`). PairingLocked before anything is checked when the
    driver guessed wrong too often."""
    t = now_ms() if now is None else now
    take_write_lock(s)  # SQLite: one claimer at a time
    if s.get_bind().dialect.name == "postgresql" and driver_id.isdigit():
        # one claim of a driver at a time: the failure count read below is the whole count
        s.execute(select(Driver.id).where(Driver.id == int(driver_id)).with_for_update())
    _driver_lock(s, driver_id, t)
    h = _hash(normalize(code))
    live = s.scalars(
        select(PairingCode)
        .where(
            PairingCode.sid == sid,
            PairingCode.gun == gun,
            PairingCode.used_at.is_(None),
            PairingCode.voided_at.is_(None),
            PairingCode.expires_at > t,
        )
        .order_by(PairingCode.id)
        .with_for_update()
    ).all()
    for row in live:
        if secrets.compare_digest(row.code_hash, h):
            row.used_at, row.used_by = t, driver_id
            s.flush()
            return row
    s.add(PairingFailure(driver_id=driver_id, sid=sid, gun=gun, at=t))
    for row in live:  # a guess at this gun counts against its live codes, whoever made it
        row.failures += 1
        if row.failures >= CODE_MAX_FAILURES:
            row.voided_at = t
    s.flush()
    return None


def failures_of(s: Session, driver_id: str, since: int) -> int:
    return int(
        s.scalar(
            select(func.count())
            .select_from(PairingFailure)
            .where(PairingFailure.driver_id == driver_id, PairingFailure.at > since)
        )
        or 0
    )


def live_codes(s: Session, *, now: int | None = None, limit: int = 100) -> list[PairingCode]:
    t = now_ms() if now is None else now
    return list(
        s.scalars(
            select(PairingCode)
            .where(
                PairingCode.used_at.is_(None),
                PairingCode.voided_at.is_(None),
                PairingCode.expires_at > t,
            )
            .order_by(PairingCode.id.desc())
            .limit(limit)
        )
    )


Transactions = Callable[[], AbstractContextManager[Session]]


def register_with_code(
    transactions: Transactions,
    owner_id: str,
    gun_code: Any,
    code: Any,
    *,
    commission_bp: int,
    now: int | None = None,
) -> int:
    """The driver registers the gun with QR code `gun_code` as their pile, proven by a pairing
    code issued for it. SharingError `gun_not_found`, `pairing_code_invalid` (the failure
    recorded), `already_shared`; PairingLocked. The code is used only if the pile is made.
    Returns the pile's id."""
    with transactions() as s:
        gun = stations.gun_by_code(s, gun_code) if isinstance(gun_code, str) else None
        if gun is None:
            raise SharingError("gun_not_found", f"no gun with code {gun_code!r}")
        row = claim(s, owner_id, gun.sid, gun.gun_id, code, now=now)
        if row is not None:
            pile = sharing.register(
                s, owner_id, gun.sid, gun.gun_id, commission_bp=commission_bp, now=now
            )
            return pile.id
    raise SharingError("pairing_code_invalid", "wrong, used or expired pairing code")
