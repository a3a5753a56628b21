"""The load level: load %, hysteresis, dwell and failsafe. Shared by every policy.

Stepping up (towards blocked) is immediate, because it protects the transformer. Stepping
down goes one band at a time (blocked → capped → normal), each step only after the load has
stayed below that band's release threshold (threshold − hysteresis) continuously for
`dwell_s`, so a load wobbling around a threshold holds the higher level instead of flapping.

Thresholds are compared exactly, in integers and fractions (S VA × 100 against percent ×
rated VA), so exactly 50.0 % and 80.0 % fall where the docs say for any rating.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from edge.loadctl.model import (
    BAND_ORDER,
    Level,
    LoadState,
    MeterCheck,
    Policy,
    StationSnapshot,
)
from edge.loadctl.plausible import check_meter

# Alarm codes (stable strings; the gateway raises/clears them when the set changes).
ALARM_METER_MISSING = "meter_missing"  # no good reading since start
ALARM_METER_STALE = "meter_stale"  # last good reading older than meter_timeout_s
ALARM_METER_IMPLAUSIBLE = "meter_implausible"  # the meter answers, but contradicts the guns
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
    relax_lower_since: float | None = None
    meter_check: MeterCheck | None = None

    def state(self, previous: LoadState, now: float, limits: dict[str, int]) -> LoadState:
        since = previous.since if self.level == previous.level else now
        return LoadState(
            level=self.level,
            since=since,
            band=self.band,
            relax_since=self.relax_since,
            limits=tuple(sorted(limits.items())),
            relax_lower_since=self.relax_lower_since,
            shed=previous.shed,
            shed_relax_since=previous.shed_relax_since,
            meter_check=self.meter_check,
        )


def load_pct(s_total_va: int, rated_kva: float) -> float:
    """Transformer load in % of its rating: S total (VA) / rated kVA × 100 (spec/arcm300t.md).

    For display and records only; every threshold is compared with `above`/`below`."""
    return s_total_va / (rated_kva * 1000.0) * 100.0


def exact(value: float) -> Fraction:
    """The decimal a person wrote (50.0, 31.5 kVA) as an exact fraction, not its binary float."""
    return Fraction(str(value)) if isinstance(value, float) else Fraction(value)


def above(s_total_va: int, pct: float, rated_kva: float) -> bool:
    """load > pct, exactly: S VA × 100 > pct × rated VA."""
    return s_total_va * 100 > exact(pct) * exact(rated_kva) * 1000


def below(s_total_va: int, pct: float, rated_kva: float) -> bool:
    """load < pct, exactly."""
    return s_total_va * 100 < exact(pct) * exact(rated_kva) * 1000


def va_at(pct: float, rated_kva: float) -> Fraction:
    """S total (VA) at `pct` % of the rating, exactly."""
    return exact(pct) * exact(rated_kva) * 10


def band_up(s_total_va: int, rated_kva: float, policy: Policy) -> Level:
    """The band the load forces right now ("above" is strict: exactly 80 % is not blocked)."""
    if above(s_total_va, policy.block_above_pct, rated_kva):
        return Level.BLOCKED
    if above(s_total_va, policy.cap_above_pct, rated_kva):
        return Level.CAPPED
    return Level.NORMAL


def release_pct(band: Level, policy: Policy) -> float:
    """Below this load % a band may be left (after the dwell)."""
    threshold = policy.block_above_pct if band == Level.BLOCKED else policy.cap_above_pct
    return threshold - policy.hysteresis_pct


def _rank(level: Level) -> int:
    return BAND_ORDER.index(level)


def _timer(running: float | None, holds: bool, now: float) -> float | None:
    """A continuous-condition timer: kept while the condition holds, restarted otherwise."""
    if not holds:
        return None
    return now if running is None or running > now else running


def next_band(
    s_total_va: int, rated_kva: float, previous: LoadState, policy: Policy, now: float
) -> tuple[Level, float | None, float | None]:
    """(band, relax_since, relax_lower_since) after this reading.

    Each band's release threshold has its own timer, so a single low reading after a
    dwell spent between the two release thresholds steps down one band, not two."""
    held = previous.band if previous.band in BAND_ORDER else Level.BLOCKED
    below_block = below(s_total_va, release_pct(Level.BLOCKED, policy), rated_kva)
    below_cap = below(s_total_va, release_pct(Level.CAPPED, policy), rated_kva)
    if held == Level.BLOCKED:
        timers = (previous.relax_since, previous.relax_lower_since)
    elif held == Level.CAPPED:
        timers = (None, previous.relax_since)
    else:
        timers = (None, None)
    block_t = _timer(timers[0], below_block, now)
    cap_t = _timer(timers[1], below_cap, now)
    up = band_up(s_total_va, rated_kva, policy)
    band = held
    if _rank(up) > _rank(held):
        band = up
    elif held == Level.BLOCKED and block_t is not None and now - block_t >= policy.dwell_s:
        band = Level.CAPPED
    elif held == Level.CAPPED and cap_t is not None and now - cap_t >= policy.dwell_s:
        band = Level.NORMAL
    if band == Level.BLOCKED:
        return band, block_t, cap_t
    if band == Level.CAPPED:
        return band, cap_t, None
    return band, None, None


def assess(snapshot: StationSnapshot, policy: Policy, now: float) -> Assessment:
    previous = snapshot.previous
    rated = snapshot.rated_kva
    meter = snapshot.meter
    failure: tuple[str, str] | None = None
    check: MeterCheck | None = None
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
    else:
        check = check_meter(meter, snapshot.guns, float(rated), policy, previous.meter_check)
        if check.implausible is not None:
            failure = (ALARM_METER_IMPLAUSIBLE, f"meter not believed: {check.implausible}")
    if failure is not None:
        alarm, why = failure
        return Assessment(
            level=Level.FAILSAFE,
            load_pct=None,
            band=previous.band if previous.band in BAND_ORDER else Level.NORMAL,
            relax_since=None,  # a step down after the outage needs a fresh dwell
            alarms=(alarm,),
            reason=f"failsafe: {why}",
            meter_check=check,
        )
    assert meter is not None
    pct = load_pct(meter.s_total_va, float(rated))
    band, relax_since, relax_lower = next_band(meter.s_total_va, float(rated), previous, policy, now)
    alarms = (ALARM_OVER_RATED,) if above(meter.s_total_va, 100, float(rated)) else ()
    return Assessment(
        level=band,
        load_pct=pct,
        band=band,
        relax_since=relax_since,
        alarms=alarms,
        reason=band_reason(pct, band, relax_since, policy, snapshot, now),
        relax_lower_since=relax_lower,
        meter_check=check,
    )


@lru_cache(maxsize=8)
def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def time_of_day(at: float, snapshot: StationSnapshot, now: float) -> str:
    """A monotonic instant as the station's local time of day (or "N s ago" with no wall clock)."""
    if snapshot.wall_now is None:
        return f"{max(0.0, now - at):.0f} s ago"
    wall = snapshot.wall_now - (now - at)
    return datetime.fromtimestamp(wall, _zone(snapshot.tz)).strftime("%H:%M:%S")


def band_reason(
    pct: float,
    band: Level,
    relax_since: float | None,
    policy: Policy,
    snapshot: StationSnapshot,
    now: float,
) -> str:
    if band == Level.BLOCKED:
        text = f"load {pct:.1f} %: blocked above {policy.block_above_pct:g} %"
    elif band == Level.CAPPED:
        text = (
            f"load {pct:.1f} %: starts capped at {policy.cap_power_pct:g} % of rated "
            f"above {policy.cap_above_pct:g} %"
        )
    else:
        return f"load {pct:.1f} %: normal"
    release = release_pct(band, policy)
    if relax_since is not None:
        since = time_of_day(relax_since, snapshot, now)
        return f"{text}; below {release:g} % since {since}, {policy.dwell_s:g} s dwell"
    return f"{text} until below {release:g} %"
