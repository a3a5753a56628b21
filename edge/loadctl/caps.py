"""The customer's rule as caps, shared by every policy.

A session's cap is fixed when it starts (rated power, or cap_power_pct of it when the load is
above cap_above_pct) and kept for the whole session; no policy ever raises a gun above it.
A session the pile started by itself gets the same cap from the first decision whose level
admits starts, and is held at 0 W until then (or ended, with `pile_sessions = "stop"`).
"""

from __future__ import annotations

from dataclasses import replace

from edge.loadctl.model import GunSnapshot, Level, LoadState, Policy

REFUSED_BLOCKED = "blocked_by_load"
REFUSED_FAILSAFE = "failsafe"


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
    """Failsafe: hold a running gun, never raise it: at the lowest of its cap, the limit last
    decided and the limit the pile says it obeys; with neither on record, at 0."""
    known = [w for w in (previous.limit_of(gun.gun), gun.limit_active_w) if w is not None]
    if not known:
        return 0
    return max(0, min(gun.cap_w, *known))


def resolve_pending(
    guns: tuple[GunSnapshot, ...], level: Level, policy: Policy, admits: bool
) -> tuple[tuple[GunSnapshot, ...], dict[str, int], dict[str, str]]:
    """Sessions the pile started whose cap is not fixed yet: (guns with their cap for this
    decision, caps fixed now, sessions to end). A pending session the level does not admit
    gets cap 0 (held at 0 W, waiting for load), or is ended with `pile_sessions = "stop"`."""
    out: list[GunSnapshot] = []
    fixed: dict[str, int] = {}
    refused: dict[str, str] = {}
    for g in guns:
        if not (g.cap_pending and g.planned):
            out.append(g)
            continue
        cap = rule_start_cap(g, level, policy) if admits else 0
        if cap > 0:
            fixed[g.gun] = cap
        elif policy.pile_sessions == "stop":
            refused[g.gun] = REFUSED_FAILSAFE if level == Level.FAILSAFE else REFUSED_BLOCKED
        out.append(replace(g, session_cap_w=cap, cap_pending=cap <= 0))
    return tuple(out), fixed, refused


def idle_guns(guns: tuple[GunSnapshot, ...]) -> list[GunSnapshot]:
    """Guns where a session could be started (load control does not judge the gun's state)."""
    return [g for g in guns if not g.planned]
