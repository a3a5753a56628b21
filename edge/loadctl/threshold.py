"""The `threshold` policy: the customer's rule and nothing more.

Starts: rated power in `normal`, cap_power_pct of rated in `capped`, none in `blocked` or
`failsafe`. Running sessions keep the cap they started with; in failsafe they are held (never
raised, see caps.held_limit).
"""

from __future__ import annotations

from edge.loadctl.caps import held_limit, idle_guns, rule_start_cap
from edge.loadctl.level import Assessment
from edge.loadctl.model import Decision, Level, Policy, StationSnapshot


def decide(snapshot: StationSnapshot, policy: Policy, now: float, verdict: Assessment) -> Decision:
    level = verdict.level
    limits: dict[str, int] = {}
    for gun in snapshot.guns:
        if gun.planned:
            if level == Level.FAILSAFE:
                limits[gun.gun] = held_limit(gun, snapshot.previous)
            else:
                limits[gun.gun] = gun.cap_w
    start_caps: dict[str, int] = {}
    for gun in idle_guns(snapshot.guns):
        cap = rule_start_cap(gun, level, policy)
        if cap > 0:
            start_caps[gun.gun] = cap
    return Decision(
        level=level,
        load_pct=verdict.load_pct,
        may_start=level.admits_starts,
        start_caps=start_caps,
        limits=limits,
        alarms=verdict.alarms,
        state=verdict.state(snapshot.previous, now, limits),
        reason=verdict.reason,
        start_limits=dict(start_caps),
    )
