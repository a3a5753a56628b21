"""What load control decides from, and what it decides: plain frozen values, no I/O.

The station loop builds a `StationSnapshot` every poll, calls `decide(snapshot, policy, now)`
and applies the `Decision`; the decision's `state` goes back in as `previous` on the next tick.
Nothing here reads a clock: `now` and every time are monotonic seconds chosen by the caller.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, Literal

from edge.gunstate import GunState


class Level(StrEnum):
    """Transformer load level; the values go on the wire in `load_level` events."""

    NORMAL = "normal"  # starts allowed at rated power
    CAPPED = "capped"  # starts allowed, capped at cap_power_pct of rated power
    BLOCKED = "blocked"  # no new starts
    FAILSAFE = "failsafe"  # no trustworthy load reading: no new starts, running guns held

    @property
    def admits_starts(self) -> bool:
        return self in (Level.NORMAL, Level.CAPPED)


# Order of the load bands (failsafe is not a band: it is the absence of a reading).
BAND_ORDER: tuple[Level, ...] = (Level.NORMAL, Level.CAPPED, Level.BLOCKED)


@dataclass(frozen=True, slots=True)
class MeterSample:
    """A good transformer meter reading (the driver drops implausible ones, spec/arcm300t.md)."""

    taken_at: float  # monotonic s
    s_total_va: int  # apparent power, the basis of load %
    p_total_w: int


@dataclass(frozen=True, slots=True)
class GunSnapshot:
    gun: str  # "<pile>-<n>"
    state: GunState
    rated_power_w: int
    min_power_w: int  # lowest power a running session accepts; 0 if none
    power_w: int  # measured now
    session_active: bool
    session_cap_w: int | None = None  # cap fixed when its session started; None = rated
    priority: int = 0  # share policy: higher is served first
    starting: bool = False  # a start was requested, not charging yet
    started_at: float | None = None  # monotonic s the session started (share: pause order)

    @property
    def planned(self) -> bool:
        """Load control owns this gun's power limit (a session runs or is being started)."""
        return self.session_active or self.starting

    @property
    def cap_w(self) -> int:
        """The most this gun's session may ever draw: its session cap, never above rated."""
        rated = max(0, self.rated_power_w)
        if self.session_cap_w is None:
            return rated
        return max(0, min(rated, self.session_cap_w))


@dataclass(frozen=True, slots=True)
class LoadState:
    """What the next decision needs from this one.

    `band` is the load band with hysteresis (normal/capped/blocked). It equals `level` except
    in failsafe, where it keeps the band from before the meter was lost, so hysteresis carries
    over the outage. `relax_since` is when the load first fell far enough for the band to step
    down (the dwell timer), or None. `limits` are the limits last decided (failsafe holds them).
    """

    level: Level
    since: float
    band: Level = Level.NORMAL
    relax_since: float | None = None
    limits: tuple[tuple[str, int], ...] = ()

    @classmethod
    def initial(cls, now: float = 0.0) -> LoadState:
        """Before the first reading: failsafe (nothing is known), no hysteresis memory."""
        return cls(level=Level.FAILSAFE, since=now, band=Level.NORMAL)

    def limit_of(self, gun: str) -> int | None:
        for name, watts in self.limits:
            if name == gun:
                return watts
        return None


@dataclass(frozen=True, slots=True)
class StationSnapshot:
    rated_kva: float
    meter: MeterSample | None  # the last GOOD reading, or None if there never was one
    guns: tuple[GunSnapshot, ...]
    previous: LoadState


class PolicyError(ValueError):
    """A policy (or a set_load_policy command) that cannot be used; `problems` says why."""

    def __init__(self, problems: list[str] | tuple[str, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


Mode = Literal["threshold", "share"]
MODES: tuple[str, ...] = ("threshold", "share")

# set_load_policy command keys that are envelope or station settings, not policy fields.
_ENVELOPE_KEYS = frozenset({"v", "id", "type", "expires_at", "rated_kva"})


@dataclass(frozen=True, slots=True)
class Policy:
    """Load control parameters. Invalid combinations raise `PolicyError` at construction.

    dwell_s: the load must stay below (threshold − hysteresis) this long before the level
    steps down; stepping up is immediate. `share` mode: share_target_pct is the load the plan
    fills up to, power_factor converts gun W to VA, and a paused or new gun gets power only if
    its minimum fits with resume_margin_pct (of rated kVA) to spare, so it does not flap.
    """

    mode: Mode = "threshold"
    cap_above_pct: float = 50.0
    block_above_pct: float = 80.0
    cap_power_pct: float = 50.0
    hysteresis_pct: float = 5.0
    meter_timeout_s: float = 3.0
    dwell_s: float = 10.0
    share_target_pct: float = 80.0
    power_factor: float = 0.98
    resume_margin_pct: float = 2.0

    def __post_init__(self) -> None:
        problems = self.validate()
        if problems:
            raise PolicyError(problems)

    def validate(self) -> list[str]:
        """Every problem with these values, each naming the key and what to write instead."""
        out: list[str] = []
        if self.mode not in MODES:
            out.append(f"mode must be 'threshold' or 'share', not {self.mode!r}")
        for f in fields(self):
            if f.name == "mode":
                continue
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                out.append(f"{f.name} must be a number, not {value!r}")
            elif not math.isfinite(value):
                out.append(f"{f.name} must be a finite number, not {value!r}")
        if out:
            return out
        if not 0 < self.cap_above_pct < self.block_above_pct:
            out.append(
                f"cap_above_pct ({self.cap_above_pct}) must be above 0 and below "
                f"block_above_pct ({self.block_above_pct}), e.g. 50 and 80"
            )
        if not 0 < self.block_above_pct <= 150:
            out.append(f"block_above_pct ({self.block_above_pct}) must be in (0, 150], e.g. 80")
        if not 0 < self.cap_power_pct <= 100:
            out.append(f"cap_power_pct ({self.cap_power_pct}) must be in (0, 100], e.g. 50")
        if not 0 <= self.hysteresis_pct < self.cap_above_pct:
            out.append(
                f"hysteresis_pct ({self.hysteresis_pct}) must be at least 0 and below "
                f"cap_above_pct ({self.cap_above_pct}), e.g. 5"
            )
        if self.meter_timeout_s <= 0:
            out.append(f"meter_timeout_s ({self.meter_timeout_s}) must be above 0, e.g. 3")
        if self.dwell_s < 0:
            out.append(f"dwell_s ({self.dwell_s}) must be 0 or more, e.g. 10")
        if not 0 < self.share_target_pct <= self.block_above_pct:
            out.append(
                f"share_target_pct ({self.share_target_pct}) must be above 0 and at most "
                f"block_above_pct ({self.block_above_pct}), or sharing drives the load into "
                "the blocked band; e.g. 80"
            )
        if not 0 <= self.resume_margin_pct < 100:
            out.append(f"resume_margin_pct ({self.resume_margin_pct}) must be in [0, 100), e.g. 2")
        if not 0.5 <= self.power_factor <= 1:
            out.append(f"power_factor ({self.power_factor}) must be in [0.5, 1], e.g. 0.98")
        return out

    @classmethod
    def from_command(cls, cmd: Mapping[str, Any], base: Policy | None = None) -> Policy:
        """The policy a `set_load_policy` command (spec/mqtt-v1.md) asks for.

        Keys absent from the command keep their value in `base` (default: the spec's
        defaults). Unknown keys are ignored (the protocol may add optional fields).
        `rated_kva` is checked here but belongs to the station snapshot: read it with
        `rated_kva_from_command`. Raises `PolicyError` naming every bad key.
        """
        base = base or cls()
        problems: list[str] = []
        if "rated_kva" in cmd:
            problems.extend(_rated_kva_problems(cmd["rated_kva"]))
        known = {f.name for f in fields(cls)}
        changes: dict[str, Any] = {}
        for key, value in cmd.items():
            if key in _ENVELOPE_KEYS or key not in known:
                continue
            if key == "mode":
                if value not in MODES:
                    problems.append(f"mode must be 'threshold' or 'share', not {value!r}")
                    continue
            elif isinstance(value, bool) or not isinstance(value, int | float):
                problems.append(f"{key} must be a number, not {value!r}")
                continue
            changes[key] = value if key == "mode" else float(value)
        if problems:
            raise PolicyError(problems)
        return replace(base, **changes)


def _rated_kva_problems(value: Any) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return [f"rated_kva must be a number, not {value!r}"]
    if value <= 0:
        return [f"rated_kva ({value}) must be above 0: the transformer's rating, e.g. 400"]
    return []


def rated_kva_from_command(cmd: Mapping[str, Any]) -> float | None:
    """The transformer rating a `set_load_policy` command carries, or None if it has none."""
    if "rated_kva" not in cmd:
        return None
    problems = _rated_kva_problems(cmd["rated_kva"])
    if problems:
        raise PolicyError(problems)
    return float(cmd["rated_kva"])


@dataclass(frozen=True, slots=True)
class Decision:
    """One tick's decision for the whole station.

    start_caps: guns that may start a session now → the session cap (W) it gets, which the
    gateway records as the session's `power_cap_w` and passes back as `session_cap_w`. A gun
    absent may not start now. start_limits: the power limit to write when starting it; in
    `share` mode all of them together are safe next to `limits` (so may be below the gun's
    share, even 0, until the next tick rebalances with it `starting`). limits: every gun with
    a session (or a
    start under way) → the limit to write now; 0 pauses it. alarms: conditions active now
    (level-triggered: the gateway raises/clears on change).
    """

    level: Level
    load_pct: float | None
    may_start: bool
    start_caps: dict[str, int]
    limits: dict[str, int]
    alarms: tuple[str, ...]
    state: LoadState
    reason: str
    start_limits: dict[str, int] = field(default_factory=dict)
