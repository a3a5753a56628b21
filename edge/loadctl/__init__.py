"""Transformer load control: one pure decision per tick for all guns at once.

    decision = decide(snapshot, policy, now)   # snapshot.previous = last decision.state

No I/O and no clock: `now` is the caller's monotonic time in seconds. See docs/load-control.md.
"""

from __future__ import annotations

from edge.loadctl import share, threshold
from edge.loadctl.level import (
    ALARM_METER_MISSING,
    ALARM_METER_STALE,
    ALARM_OVER_RATED,
    ALARM_RATED_KVA_INVALID,
    load_pct,
)
from edge.loadctl.model import (
    Decision,
    GunSnapshot,
    Level,
    LoadState,
    MeterSample,
    Policy,
    PolicyError,
    StationSnapshot,
    rated_kva_from_command,
)
from edge.loadctl.share import ALARM_OVER_TARGET

__all__ = [
    "ALARM_METER_MISSING",
    "ALARM_METER_STALE",
    "ALARM_OVER_RATED",
    "ALARM_OVER_TARGET",
    "ALARM_RATED_KVA_INVALID",
    "Decision",
    "GunSnapshot",
    "Level",
    "LoadState",
    "MeterSample",
    "Policy",
    "PolicyError",
    "StationSnapshot",
    "decide",
    "load_pct",
    "rated_kva_from_command",
]

_POLICIES = {"threshold": threshold.decide, "share": share.decide}


def decide(snapshot: StationSnapshot, policy: Policy, now: float) -> Decision:
    """Decide every gun at once from one snapshot (evcc's "one loop, one pure decision")."""
    return _POLICIES[policy.mode](snapshot, policy, now)
