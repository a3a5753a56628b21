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
    # A session the pile started by itself (button, a card the gateway never saw, free vend,
    # found running after a restart): its cap is fixed by the first decision whose level
    # admits starts (`Decision.fixed_caps`); until then it is held at 0 W.
    cap_pending: bool = False
    # The limit the pile reports it obeys now (power_limit_active), None if it does not say:
    # failsafe holds a gun with no decided limit on record at this, or at 0.
    limit_active_w: int | None = None
    # An orderly session's planned power in this slot (edge/loadctl/orderly.py), None for
    # other sessions: a ceiling like the cap, so no policy gives the gun more.
    plan_w: int | None = None

    @property
    def planned(self) -> bool:
        """Load control owns this gun's power limit (a session runs or is being started)."""
        return self.session_active or self.starting

    @property
    def cap_w(self) -> int:
        """The most this gun's session may draw now: its session cap, never above rated, and
        never above an orderly session's plan."""
        rated = max(0, self.rated_power_w)
        cap = rated if self.session_cap_w is None else max(0, min(rated, self.session_cap_w))
        return cap if self.plan_w is None else max(0, min(cap, self.plan_w))


@dataclass(frozen=True, slots=True)
class MeterCheck:
    """What the meter plausibility check carries from reading to reading (monotonic s)."""

    s_total_va: int | None = None  # the last reading seen
    taken_at: float | None = None
    same_since: float | None = None  # S total unchanged since (a frozen meter)
    guns_w_then: int = 0  # the guns' summed power when S total last changed
    low_since: float | None = None  # S total below the guns' own draw since
    implausible: str | None = None  # why the meter is not believed now


@dataclass(frozen=True, slots=True)
class LoadState:
    """What the next decision needs from this one.

    `band` is the load band with hysteresis (normal/capped/blocked). It equals `level` except
    in failsafe, where it keeps the band from before the meter was lost, so hysteresis carries
    over the outage. `relax_since` is since when the load has been below the current band's
    release threshold (the dwell timer), or None; `relax_lower_since` the same for the band
    below it (blocked: since when below capped's release threshold), so that each step down
    has its own dwell. `limits` are the limits last decided (failsafe holds them).
    `shed` are the emergency ceilings on running guns (W) while the load is being shed,
    `shed_relax_since` the dwell timer for giving some back. `meter_check` is what the meter
    plausibility check remembers between readings.
    """

    level: Level
    since: float
    band: Level = Level.NORMAL
    relax_since: float | None = None
    limits: tuple[tuple[str, int], ...] = ()
    relax_lower_since: float | None = None
    shed: tuple[tuple[str, int], ...] = ()
    shed_relax_since: float | None = None
    meter_check: MeterCheck | None = None

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
    # Wall clock (epoch s) at the decision's `now`, and the station's time zone: reasons
    # name times of day ("below 75 % since 14:03:12"), never monotonic seconds.
    wall_now: float | None = None
    tz: str = "Asia/Shanghai"


class PolicyError(ValueError):
    """A policy (or a set_load_policy command) that cannot be used; `problems` says why."""

    def __init__(self, problems: list[str] | tuple[str, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


Mode = Literal["threshold", "share"]
MODES: tuple[str, ...] = ("threshold", "share")
PileSessions = Literal["wait", "stop"]
PILE_SESSIONS: tuple[str, ...] = ("wait", "stop")

# set_load_policy command keys that are envelope or station settings, not policy fields.
_ENVELOPE_KEYS = frozenset({"v", "id", "type", "expires_at", "rated_kva"})


@dataclass(frozen=True, slots=True)
class Range:
    """The one range of a numeric policy key: the config, the set_load_policy schema and the
    docs take it from here (tests/loadctl/test_policy.py checks the schema against it)."""

    low: float
    high: float
    low_open: bool = False  # the low end itself is not allowed
    high_open: bool = False
    example: float = 0

    def holds(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def text(self) -> str:
        return (f"{'(' if self.low_open else '['}{self.low:g}, {self.high:g}"
                f"{')' if self.high_open else ']'}")


RATED_KVA_RANGE = Range(0, 100_000, low_open=True, example=400)
RANGES: dict[str, Range] = {
    "cap_above_pct": Range(0, 100, low_open=True, high_open=True, example=50),
    "block_above_pct": Range(0, 100, low_open=True, example=80),
    "emergency_above_pct": Range(0, 150, low_open=True, example=100),
    "cap_power_pct": Range(0, 100, low_open=True, example=50),
    "hysteresis_pct": Range(0, 20, example=5),
    "meter_timeout_s": Range(0.5, 60, example=3),
    "dwell_s": Range(0, 3600, example=10),
    "share_target_pct": Range(0, 100, low_open=True, example=80),
    "power_factor": Range(0.5, 1, example=0.98),
    "resume_margin_pct": Range(0, 100, high_open=True, example=2),
    "meter_tolerance_pct": Range(0, 100, low_open=True, example=5),
    "meter_implausible_s": Range(1, 600, example=20),
    "orderly_margin_pct": Range(0, 50, example=5),
    "orderly_replan_pct": Range(0, 50, low_open=True, example=2),
    "orderly_replan_s": Range(5, 3600, example=60),
    # what the car takes (acceptance.py): ramp after a limit change, how long a shortfall
    # must last, what counts as one, and the figure's dead band
    "orderly_ramp_s": Range(0, 300, example=10),
    "orderly_sustain_s": Range(1, 600, example=15),
    "orderly_shortfall_pct": Range(50, 100, example=90),
    "orderly_shortfall_min_w": Range(0, 10_000, example=200),
    "orderly_move_pct": Range(0, 50, example=3),
    "orderly_move_min_w": Range(0, 10_000, example=100),
}

# The Policy keys that set what-the-car-takes learning (acceptance.AcceptanceRules.of).
ACCEPTANCE_KEYS: tuple[str, ...] = (
    "orderly_ramp_s",
    "orderly_sustain_s",
    "orderly_shortfall_pct",
    "orderly_shortfall_min_w",
    "orderly_move_pct",
    "orderly_move_min_w",
)


@dataclass(frozen=True, slots=True)
class Policy:
    """Load control parameters. Invalid combinations raise `PolicyError` at construction.

    dwell_s: the load must stay below (threshold − hysteresis) this long before the level
    steps down one band; stepping up is immediate. emergency_above_pct: above it (the
    transformer's rating, 100 %) running sessions are shed under every mode. pile_sessions:
    what a session the pile started by itself gets while starts are refused: "wait" (held at
    0 W until the level admits starts) or "stop". meter_tolerance_pct (of rated kVA) and
    meter_implausible_s: a meter whose S total stays below the guns' own draw by more than
    the tolerance, or does not change while the guns' draw does, for that long, is not
    believed (failsafe). `share` mode: share_target_pct is the load the plan fills up to,
    power_factor converts gun W to VA, and a paused or new gun gets power only if its
    minimum fits with resume_margin_pct (of rated kVA) to spare, so it does not flap.
    Orderly charging: orderly_margin_pct (of rated kVA) is kept free when forecasting the
    headroom of the hours ahead (their base load is taken as now's, plus this), a plan is
    made again when the headroom moves by more than orderly_replan_pct (of rated kVA), and
    anyway every orderly_replan_s (the energy actually drawn, a car taking less than planned).
    What the car takes is learned (acceptance.AcceptanceRules) after orderly_ramp_s of a new
    limit from a shortfall (under orderly_shortfall_pct of the limit and orderly_shortfall_min_w
    below it) lasting orderly_sustain_s; the figure moves only by more than orderly_move_pct
    of itself or orderly_move_min_w.
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
    emergency_above_pct: float = 100.0
    pile_sessions: PileSessions = "wait"
    meter_tolerance_pct: float = 5.0
    meter_implausible_s: float = 20.0
    orderly_margin_pct: float = 5.0
    orderly_replan_pct: float = 2.0
    orderly_replan_s: float = 60.0
    orderly_ramp_s: float = 10.0
    orderly_sustain_s: float = 15.0
    orderly_shortfall_pct: float = 90.0
    orderly_shortfall_min_w: float = 200.0
    orderly_move_pct: float = 3.0
    orderly_move_min_w: float = 100.0

    def __post_init__(self) -> None:
        problems = self.validate()
        if problems:
            raise PolicyError(problems)

    def validate(self) -> list[str]:
        """Every problem with these values, each naming the key and what to write instead."""
        out: list[str] = []
        if self.mode not in MODES:
            out.append(f"mode must be 'threshold' or 'share', not {self.mode!r}")
        if self.pile_sessions not in PILE_SESSIONS:
            out.append(f"pile_sessions must be 'wait' or 'stop', not {self.pile_sessions!r}")
        for f in fields(self):
            if f.name not in RANGES:
                continue
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                out.append(f"{f.name} must be a number, not {value!r}")
            elif not math.isfinite(value):
                out.append(f"{f.name} must be a finite number, not {value!r}")
            elif not RANGES[f.name].holds(value):
                r = RANGES[f.name]
                out.append(f"{f.name} ({value:g}) must be in {r.text()}, e.g. {r.example:g}")
        if out:
            return out
        if not self.cap_above_pct < self.block_above_pct:
            out.append(
                f"cap_above_pct ({self.cap_above_pct:g}) must be above 0 and below "
                f"block_above_pct ({self.block_above_pct:g}), e.g. 50 and 80"
            )
        if not self.block_above_pct <= self.emergency_above_pct:
            out.append(
                f"emergency_above_pct ({self.emergency_above_pct:g}) must be at least "
                f"block_above_pct ({self.block_above_pct:g}), e.g. 100"
            )
        if not self.hysteresis_pct < self.cap_above_pct:
            out.append(
                f"hysteresis_pct ({self.hysteresis_pct:g}) must be at least 0 and below "
                f"cap_above_pct ({self.cap_above_pct:g}), e.g. 5"
            )
        if not self.share_target_pct <= self.block_above_pct:
            out.append(
                f"share_target_pct ({self.share_target_pct:g}) must be above 0 and at most "
                f"block_above_pct ({self.block_above_pct:g}), or sharing drives the load into "
                "the blocked band; e.g. 80"
            )
        return out

    @classmethod
    def from_command(cls, cmd: Mapping[str, Any], base: Policy | None = None) -> Policy:
        """The policy a `set_load_policy` command (spec/mqtt-v1.md) asks for.

        Only the keys the command carries change: the others keep their value in `base`
        (default: the spec's defaults). Unknown keys are ignored (the protocol may add
        optional fields). `rated_kva` is checked here but belongs to the station snapshot:
        read it with `rated_kva_from_command`. Raises `PolicyError` naming every bad key.
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
            elif key == "pile_sessions":
                if value not in PILE_SESSIONS:
                    problems.append(f"pile_sessions must be 'wait' or 'stop', not {value!r}")
                    continue
            elif isinstance(value, bool) or not isinstance(value, int | float):
                problems.append(f"{key} must be a number, not {value!r}")
                continue
            changes[key] = value if key in ("mode", "pile_sessions") else float(value)
        if problems:
            raise PolicyError(problems)
        return replace(base, **changes)


def _rated_kva_problems(value: Any) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return [f"rated_kva must be a number, not {value!r}"]
    if not RATED_KVA_RANGE.holds(value):
        return [f"rated_kva ({value:g}) must be in {RATED_KVA_RANGE.text()}: the transformer's "
                "rating in kVA, e.g. 400"]
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
    a session (or a start under way) → the limit to write now; 0 pauses it. alarms:
    conditions active now (level-triggered: the gateway raises/clears on change).
    fixed_caps: sessions the pile started whose cap is fixed by this decision (the gateway
    records it as the session's `power_cap_w`). refused: sessions the pile started that the
    level does not admit and `pile_sessions = "stop"` ends → why (`blocked_by_load`,
    `failsafe`). shed: the emergency ceilings in force (W), by gun.
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
    fixed_caps: dict[str, int] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    shed: dict[str, int] = field(default_factory=dict)
