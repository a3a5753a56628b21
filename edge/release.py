"""After a session: the idle time until the car leaves the gun, and its `gun_released` record.

A session that ends with the car still plugged is *pending release*, in the store (so a
gateway restart between the end and the unplug loses nothing). Each reading of its gun is
looked at: the car seen plugged moves "last seen plugged" forward (written to the store at
most once a minute); the gun seen empty (`available`, `reserved`) releases it, and so does a
new session on that gun (the car stayed, a new charge began). The release and its idle fee
(the session's tariff `idle`, `jcproto.tariff.IdleFee`) are one durable transaction with the
`gun_released` record.

When the unplug is not seen as it happens (the gateway was restarted, or the pile's line or
the gun's reading was away longer than `WATCH_GAP_S`), `released_at` is the last instant the
car was seen still plugged: the driver never pays for time the gateway did not watch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from edge.cache import SessionRow, SessionState, Store
from edge.clock import Clock
from edge.drivers.base import GunReading
from edge.gunstate import GunState
from edge.records import append
from jcproto import GunReleased
from jcproto.tariff import IdleFee, TariffError, idle_fen

log = logging.getLogger(__name__)

WATCH_GAP_S = 30.0  # readings further apart than this: the gun was not watched in between
SEEN_WRITE_MS = 60_000  # "last seen plugged" goes to the store at most this often (wall)
SEEN_WRITE_MIN_S = 5.0  # and at most this often on the monotonic clock (a sped-up test clock)
EMPTY = frozenset({GunState.AVAILABLE, GunState.RESERVED})  # no car at the gun


@dataclass
class Pending:
    session_id: str
    gun: str
    ended_at: int
    idle: IdleFee | None
    seen_ms: int  # last instant (wall) the car was seen plugged, or the end
    seen_mono: float | None = None  # when this process last saw it plugged
    seen_written_ms: int = 0
    seen_written_mono: float = float("-inf")


def released_at(p: Pending, now_ms: int, mono: float) -> int:
    """When the car left: now if the gun was watched up to now, else the last instant it
    was seen plugged. Never before the session's end."""
    watched = p.seen_mono is not None and mono - p.seen_mono <= WATCH_GAP_S
    return max(p.ended_at, now_ms if watched else p.seen_ms)


def idle_of(row: SessionRow, fallback: IdleFee | None) -> IdleFee | None:
    """The idle fee terms of the session's own tariff (its cost state), else `fallback`."""
    raw: Any = (row.cost_state or {}).get("tariff")
    if isinstance(raw, dict):
        if raw.get("idle") is None:
            return None
        try:
            return IdleFee.from_dict(raw["idle"])
        except TariffError as exc:
            log.error("session %s: idle fee terms unreadable (%s): no idle fee", row.session_id, exc)
            return None
    return fallback


class ReleaseWatch:
    """The ended sessions whose car may still be at the gun, one per gun at most."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.pending: dict[str, Pending] = {}

    def now_ms(self) -> int:
        return int(self.clock.time() * 1000)

    def load(self, fallback: IdleFee | None) -> None:
        for row in self.store.sessions.pending_release():
            self._put(row, idle_of(row, fallback))

    def _put(self, row: SessionRow, idle: IdleFee | None) -> Pending:
        ended = row.ended_at or self.now_ms()
        older = self.pending.get(row.gun)
        if older is not None and older.session_id != row.session_id:
            # Two pending on one gun: the newer session's start released the older car.
            self.release(older, max(older.ended_at, min(ended, row.started_at or ended)))
        p = Pending(row.session_id, row.gun, ended, idle, max(ended, row.plugged_seen_at or 0))
        p.seen_written_ms = p.seen_ms
        self.pending[row.gun] = p
        return p

    def ended(self, row: SessionRow, idle: IdleFee | None, plugged_now: bool) -> None:
        """A session just ended (its row already marked pending in the store)."""
        p = self._put(row, idle)
        if plugged_now:
            p.seen_ms, p.seen_mono = max(p.seen_ms, self.now_ms()), self.clock.monotonic()

    def observe(self, gun: str, reading: GunReading, open_row: SessionRow | None) -> None:
        p = self.pending.get(gun)
        if p is None:
            return
        now, mono = self.now_ms(), self.clock.monotonic()
        if open_row is not None and open_row.session_id != p.session_id and open_row.state == SessionState.ACTIVE:
            # A new session on the gun (really begun, not a start still in doubt): the idle
            # time ended when it began.
            self.release(p, max(p.ended_at, min(now, open_row.started_at or now)))
            return
        if reading.state in EMPTY:
            self.release(p, released_at(p, now, mono))
        elif reading.state.has_vehicle:
            p.seen_ms, p.seen_mono = max(p.seen_ms, now), mono
            if p.seen_ms - p.seen_written_ms >= SEEN_WRITE_MS and mono - p.seen_written_mono >= SEEN_WRITE_MIN_S:
                self.store.sessions.update(p.session_id, plugged_seen_at=p.seen_ms)
                p.seen_written_ms, p.seen_written_mono = p.seen_ms, mono
        # faulted / unavailable: the gun cannot tell; neither plugged nor released.

    def release(self, p: Pending, at_ms: int) -> int:
        fee = idle_fen(p.idle, p.ended_at, at_ms)
        with self.store.transaction(durable=True):
            append(self.store, GunReleased(seq=0, ts=at_ms, session_id=p.session_id, gun=p.gun,
                                           released_at=at_ms, idle_fen=fee))
            self.store.sessions.update(p.session_id, release_pending=False, released_at=at_ms,
                                       idle_fen=fee)
        if self.pending.get(p.gun) is p:
            del self.pending[p.gun]
        log.info("%s: car left after session %s, idle fee %d fen", p.gun, p.session_id, fee)
        return fee

    def summary(self, gun: str) -> dict[str, Any] | None:
        p = self.pending.get(gun)
        if p is None:
            return None
        now = self.now_ms()
        return {"session_id": p.session_id, "ended_at": p.ended_at,
                "idle_fen_now": idle_fen(p.idle, p.ended_at, max(now, p.ended_at))}
