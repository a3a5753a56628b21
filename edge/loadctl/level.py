"""The load level: load %, hysteresis, dwell and failsafe. Shared by every policy.

Stepping up (towards blocked) is immediate, because it protects the transformer. Stepping
down needs the load below (threshold − hysteresis) continuously for `dwell_s`, so a load
wobbling around a threshold holds the higher level instead of flapping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge.loadctl.model import BAND_ORDER, Level, LoadState, Policy, StationSnapshot

# Alarm codes (stable strings; the gateway raises/clears them when the set changes).
ALARM_METER_MISSING = "meter_missing"  # no good reading since start
ALARM_METER_STALE = "meter_stale"  # last good reading older than meter_timeout_s
ALARM_RATED_KVA_INVALID = "rated_kva_invalid"  # no usable transformer rating
ALARM_OVER_RATED = "load_above_rated"  # load above 100 % of rated kVA


@dataclass(frozen=True, slots=True)
class Assessment:
    level: Level
    load_pct: float | None
    band: Level
    relax_since: float | None
    alarms: tuple[str, ...]
    reason: str

    def state(self, previous: LoadState, now: float, limits: dict[str, int]) -> LoadState:
        since = previous.since if self.level == previous.level else now
        return LoadState(
            level=self.level,
            since=since,
            band=self.band,
            relax_since=self.relax_since,
            limits=tuple(sorted(limits.items())),
        )


def load_pct(s_total_va: int, rated_kva: float) -> float:
    """Transformer load in % of its rating: S total (VA) / rated kVA × 100 (spec/arcm300t.md)."""
    return s_total_va / (rated_kva * 1000.0) * 100.0


def band_up(pct: float, policy: Policy) -> Level:
    """The band the load forces right now ("above" is strict: exactly 80 % is not blocked)."""
    if pct > policy.block_above_pct:
        return Level.BLOCKED
    if pct > policy.cap_above_pct:
        return Level.CAPPED
    return Level.NORMAL


def band_down(pct: float, policy: Policy) -> Level:
    """The lowest band the load allows leaving to: a band is left only below threshold − hyst."""
    if pct >= policy.block_above_pct - policy.hysteresis_pct:
        return Level.BLOCKED
    if pct >= policy.cap_above_pct - policy.hysteresis_pct:
        return Level.CAPPED
    return Level.NORMAL


def _rank(level: Level) -> int:
    return BAND_ORDER.index(level)


def next_band(
    pct: float, previous: LoadState, policy: Policy, now: float
) -> tuple[Level, float | None]:
    """(band, relax_since) after this reading, from the previous band and dwell timer."""
    held = previous.band if previous.band in BAND_ORDER else Level.BLOCKED
    up = band_up(pct, policy)
    if _rank(up) >= _rank(held):
        return up, None  # same or higher: go there at once, no step down pending
    down = band_down(pct, policy)
    if _rank(down) >= _rank(held):
        return held, None  # inside the hysteresis band: hold
    relax_since = previous.relax_since
    if relax_since is None or relax_since > now:  # start (or restart) the dwell timer
        relax_since = now
    if now - relax_since >= policy.dwell_s:
        return down, None
    return held, relax_since


def assess(snapshot: StationSnapshot, policy: Policy, now: float) -> Assessment:
    previous = snapshot.previous
    rated = snapshot.rated_kva
    meter = snapshot.meter
    failure: tuple[str, str] | None = None
    if (
        isinstance(rated, bool)
        or not isinstance(rated, int | float)
        or not (math.isfinite(rated) and rated > 0)
    ):
        failure = (ALARM_RATED_KVA_INVALID, f"rated kVA {rated!r} unusable")
    elif meter is None:
        failure = (ALARM_METER_MISSING, "no meter reading")
    elif now - meter.taken_at > policy.meter_timeout_s:
        age = now - meter.taken_at
        failure = (
            ALARM_METER_STALE,
            f"meter reading {age:.1f} s old (> {policy.meter_timeout_s:g} s)",
        )
    elif meter.s_total_va < 0:
        failure = (ALARM_METER_STALE, f"meter S total {meter.s_total_va} VA is not a reading")
    if failure is not None:
        alarm, why = failure
        return Assessment(
            level=Level.FAILSAFE,
            load_pct=None,
            band=previous.band if previous.band in BAND_ORDER else Level.NORMAL,
            relax_since=None,  # a step down after the outage needs a fresh dwell
            alarms=(alarm,),
            reason=f"failsafe: {why}",
        )
    assert meter is not None
    pct = load_pct(meter.s_total_va, float(rated))
    band, relax_since = next_band(pct, previous, policy, now)
    alarms = (ALARM_OVER_RATED,) if pct > 100.0 else ()
    return Assessment(
        level=band,
        load_pct=pct,
        band=band,
        relax_since=relax_since,
        alarms=alarms,
        reason=_band_reason(pct, band, relax_since, policy),
    )


def _band_reason(pct: float, band: Level, relax_since: float | None, policy: Policy) -> str:
    if band == Level.BLOCKED:
        text = f"load {pct:.1f}%: blocked above {policy.block_above_pct:g}%"
        release = policy.block_above_pct - policy.hysteresis_pct
    elif band == Level.CAPPED:
        text = (
            f"load {pct:.1f}%: starts capped at {policy.cap_power_pct:g}% of rated "
            f"above {policy.cap_above_pct:g}%"
        )
        release = policy.cap_above_pct - policy.hysteresis_pct
    else:
        return f"load {pct:.1f}%: normal"
    if relax_since is not None:
        return f"{text}; below {release:g}% since {relax_since:.1f}, waiting {policy.dwell_s:g} s"
    return f"{text} until below {release:g}%"
