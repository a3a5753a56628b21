"""The power limit a gun obeys: the one written to it or, while the communication watchdog
has expired, the fallback power; a change takes effect `limit_delay_s` after it is asked for.

The holding power_limit reads back what was written; input 19 (power_limit_active) shows
the clamped value being obeyed.
"""

from __future__ import annotations

from dataclasses import dataclass

from .gun import Gun


@dataclass
class Watchdog:
    """Holding registers 10 (period, 0 = off), 11..12 (fallback power) and 19 (heartbeat):
    the watchdog expires `period_s` after the last write of the period or a heartbeat."""

    period_s: int = 0
    fallback_power_w: int = 0
    heartbeat: int = 0
    last_feed_real: float = 0.0

    def reset(self, now: float) -> None:
        """Power-on defaults: no watchdog, fallback 0, heartbeat 0."""
        self.period_s = 0
        self.fallback_power_w = 0
        self.heartbeat = 0
        self.last_feed_real = now

    def set_period(self, period_s: int, now: float) -> None:
        self.period_s = period_s
        self.last_feed_real = now  # a new period starts from this write

    def beat(self, value: int, now: float) -> None:
        self.heartbeat = value
        self.last_feed_real = now

    def expired(self, now: float) -> bool:
        return bool(self.period_s) and now - self.last_feed_real >= self.period_s


def obeyed_limit(written_w: int, fallback_w: int | None, rated_w: int) -> int:
    """The limit a gun is to obey: the written one, or the fallback power while the
    watchdog has expired (`fallback_w` not None), clamped to 0..rated."""
    return min(max(written_w if fallback_w is None else fallback_w, 0), rated_w)


def follow_limit(gun: Gun, target_w: int, now: float, delay_s: float) -> None:
    """Move the gun's active limit to `target_w`, `delay_s` after the target last changed."""
    if target_w == gun.limit_active_w:
        gun.pending_limit = None
    elif gun.pending_limit is None or gun.pending_limit[1] != target_w:
        gun.pending_limit = (now + delay_s, target_w)
    if gun.pending_limit and now >= gun.pending_limit[0]:
        gun.limit_active_w = gun.pending_limit[1]
        gun.pending_limit = None
