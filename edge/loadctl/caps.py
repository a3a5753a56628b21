"""The customer's rule as caps, shared by every policy.

A session's cap is fixed when it starts (rated power, or cap_power_pct of it when the load is
above cap_above_pct) and kept for the whole session; no policy ever raises a gun above it.
"""

from __future__ import annotations

from edge.loadctl.model import GunSnapshot, Level, LoadState, Policy


def rule_start_cap(gun: GunSnapshot, level: Level, policy: Policy) -> int:
    """The session cap (W) a session starting now on this gun gets; 0: it may not start."""
    if not level.admits_starts:
        return 0
    rated = max(0, gun.rated_power_w)
    cap = rated * policy.cap_power_pct // 100 if level == Level.CAPPED else rated
    cap = int(cap)
    # A session that could not run at its cap would only be paused: do not start it.
    if cap <= 0 or cap < gun.min_power_w:
        return 0
    return cap


def held_limit(gun: GunSnapshot, previous: LoadState) -> int:
    """Failsafe: hold a running gun at min(its cap, its current limit), never raise it."""
    last = previous.limit_of(gun.gun)
    return gun.cap_w if last is None else max(0, min(gun.cap_w, last))


def idle_guns(guns: tuple[GunSnapshot, ...]) -> list[GunSnapshot]:
    """Guns where a session could be started (load control does not judge the gun's state)."""
    return [g for g in guns if not g.planned]
