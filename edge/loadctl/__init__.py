"""Transformer load control: one pure decision per tick for all guns at once.

    decision = decide(snapshot, policy, now)   # snapshot.previous = last decision.state

No I/O and no clock: `now` is the caller's monotonic time in seconds. See docs/load-control.md.
"""

from __future__ import annotations

from dataclasses import replace

from edge.loadctl import share, threshold
from edge.loadctl.caps import REFUSED_BLOCKED, REFUSED_FAILSAFE, resolve_pending
from edge.loadctl.level import (
    ALARM_METER_IMPLAUSIBLE,
    ALARM_METER_MISSING,
    ALARM_METER_STALE,
    ALARM_OVER_RATED,
    ALARM_RATED_KVA_INVALID,
    above,
    assess,
    below,
    load_pct,
)
from edge.loadctl.model import (
    ACCEPTANCE_KEYS,
    RANGES,
    RATED_KVA_RANGE,
    Decision,
    GunSnapshot,
    Level,
    LoadState,
    MeterCheck,
    MeterSample,
    Policy,
    PolicyError,
    Range,
    StationSnapshot,
    rated_kva_from_command,
)
from edge.loadctl.share import ALARM_OVER_TARGET
from edge.loadctl.shed import ALARM_EMERGENCY, ALARM_SHEDDING, shed

__all__ = [
    "ACCEPTANCE_KEYS",
    "ALARM_EMERGENCY",
    "ALARM_METER_IMPLAUSIBLE",
    "ALARM_METER_MISSING",
    "ALARM_METER_STALE",
    "ALARM_OVER_RATED",
    "ALARM_OVER_TARGET",
    "ALARM_RATED_KVA_INVALID",
    "ALARM_SHEDDING",
    "RANGES",
    "RATED_KVA_RANGE",
    "REFUSED_BLOCKED",
    "REFUSED_FAILSAFE",
    "Decision",
    "GunSnapshot",
    "Level",
    "LoadState",
    "MeterCheck",
    "MeterSample",
    "Policy",
    "PolicyError",
    "Range",
    "StationSnapshot",
    "above",
    "below",
    "decide",
    "load_pct",
    "rated_kva_from_command",
]

_POLICIES = {"threshold": threshold.decide, "share": share.decide}


def decide(snapshot: StationSnapshot, policy: Policy, now: float) -> Decision:
    """Decide every gun at once from one snapshot (evcc's "one loop, one pure decision").

    The level first (shared by every policy); then sessions the pile started get their cap
    (or wait at 0 W); then the policy's limits; then, above the emergency threshold, shedding
    on top of any policy."""
    verdict = assess(snapshot, policy, now)
    shedding = bool(snapshot.previous.shed)
    guns, fixed, refused = resolve_pending(
        snapshot.guns, verdict.level, policy, verdict.level.admits_starts and not shedding
    )
    snap = replace(snapshot, guns=guns)
    d = _POLICIES[policy.mode](snap, policy, now, verdict)
    d = replace(d, fixed_caps=fixed, refused=refused)
    if d.level == Level.FAILSAFE:
        return replace(d, shed=dict(snapshot.previous.shed))
    limits, ceilings, relax, alarms, note = shed(snap, policy, now, d.limits)
    state = replace(d.state, limits=tuple(sorted(limits.items())), shed=ceilings,
                    shed_relax_since=relax)
    changes: dict = {}
    if ceilings:
        changes = {"may_start": False, "start_caps": {}, "start_limits": {}}
    return replace(d, limits=limits, state=state, alarms=(*d.alarms, *alarms),
                   reason=d.reason + note, shed=dict(ceilings), **changes)
