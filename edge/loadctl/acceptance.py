"""What the car really takes (orderly charging), learned from what its gun measures.

The pile map gives no acceptance figure: a car draws up to the limit the pile holds, or less
(its on-board charger's current, a DC battery tapering near full). The orderly planner
(`orderly.plan(..., accept_w=)`) counts on this figure once it is known; until then on the
pile's power.

    a = Acceptance(rules=AcceptanceRules(sustain_s=15.0))   # the rules: [load_policy] orderly_*
    a.observe(t, limit_w, power_w, charging)   # every new reading; t: monotonic s
    a.accept_w                                  # W the car takes, None: not known

Pure: no clock, no I/O, no settings of its own: the timings and thresholds are the session's
`AcceptanceRules` (defaults below; the gateway takes them from its config). Rules, all from
readings of a charging gun with a limit above 0:
- After the limit changes, `ramp_s` of readings are ignored: a car follows a new limit
  gradually (IEC 61851 gives an AC car 5 s; a DC charger ramps).
- A shortfall counts when it is clear — under `shortfall_pct` of the limit and at least
  `shortfall_min_w` below it — and sustained: every reading for `sustain_s` (at least
  `min_readings` of them). One reading at the limit starts the window again. Then the figure
  is the mean measured over the window, down or up from what it was (a taper lowers it, a car
  that takes more under the same limit raises it).
- A car drawing its whole limit for `sustain_s` takes at least that: a known figure below the
  mean rises to it (the limit was raised and the car followed). Drawing a limit below the
  figure in full says nothing above it: the figure stays.
- The figure moves only by more than `move_pct` of itself (or `move_min_w`), so the plan is
  not made again for the meter's noise.
A reading not charging (the car paused, the pile holding 0 W) or without a limit starts the
window again; the figure is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from edge.loadctl.model import RANGES, Policy


@dataclass(frozen=True, slots=True)
class AcceptanceRules:
    """The learner's timings and thresholds. Each numeric field but `min_readings` is the
    gateway's `[load_policy] orderly_<field>` setting, with its range in `model.RANGES`;
    the defaults are the values the learner was built and tested with."""

    ramp_s: float = 10.0  # after a limit change: readings ignored while the car follows it
    sustain_s: float = 15.0  # how long a shortfall (or a full draw) must last to count
    shortfall_pct: float = 90.0  # a reading under this % of the limit …
    shortfall_min_w: float = 200.0  # … and at least this far below it falls short
    move_pct: float = 3.0  # the figure changes only by more than this % of itself …
    move_min_w: float = 100.0  # … or this many W, whichever is more
    min_readings: int = 3  # a window holds at least this many readings: never one sample

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))

    def problems(self) -> list[str]:
        """Every value outside its range, named by its config key."""
        out: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "min_readings":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    out.append(f"min_readings must be a whole number ≥ 1, not {value!r}")
                continue
            key = f"orderly_{f.name}"
            r = RANGES[key]
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                out.append(f"{key} must be a finite number, not {value!r}")
            elif not r.holds(value):
                out.append(f"{key} ({value:g}) must be in {r.text()}, e.g. {r.example:g}")
        return out

    @classmethod
    def of(cls, policy: Policy) -> AcceptanceRules:
        """The rules a load policy sets (its `orderly_*` keys; Policy has checked the ranges)."""
        return cls(
            ramp_s=policy.orderly_ramp_s,
            sustain_s=policy.orderly_sustain_s,
            shortfall_pct=policy.orderly_shortfall_pct,
            shortfall_min_w=policy.orderly_shortfall_min_w,
            move_pct=policy.orderly_move_pct,
            move_min_w=policy.orderly_move_min_w,
        )

    def falls_short(self, limit_w: int, power_w: int) -> bool:
        """A reading clearly below the limit the pile holds."""
        return (
            power_w * 100 < limit_w * self.shortfall_pct
            and limit_w - power_w >= self.shortfall_min_w
        )

    def moves(self, old_w: int, to_w: int) -> bool:
        """A change of the figure larger than its dead band (not the meter's noise)."""
        return abs(to_w - old_w) > max(self.move_min_w, old_w * self.move_pct / 100.0)


@dataclass
class Acceptance:
    """One session's learned acceptance; feed it every new reading of its gun."""

    rules: AcceptanceRules = field(default_factory=AcceptanceRules)
    accept_w: int | None = None
    limit_w: int | None = None  # the limit the pile holds, as last seen
    limit_since: float | None = None  # when it took that value (monotonic s)
    last_t: float | None = None
    short: bool = False  # the window holds shortfalls (else full draws)
    window: list[tuple[float, int]] = field(default_factory=list)  # (t, W)

    def observe(self, t: float, limit_w: int | None, power_w: int, charging: bool) -> bool:
        """Take one reading taken at `t`; True when `accept_w` changed. A reading not newer
        than the last one is ignored (the same reading seen twice)."""
        if self.last_t is not None and t <= self.last_t:
            return False
        self.last_t = t
        if limit_w != self.limit_w or self.limit_since is None:
            self.limit_w, self.limit_since = limit_w, t
            self.window.clear()
            return False
        if limit_w is None or limit_w <= 0 or not charging or power_w <= 0:
            self.window.clear()
            return False
        r = self.rules
        if t - self.limit_since < r.ramp_s:
            return False
        short = r.falls_short(limit_w, power_w)
        if short != self.short:
            self.short = short
            self.window.clear()
        self.window.append((t, power_w))
        while len(self.window) > r.min_readings and t - self.window[1][0] >= r.sustain_s:
            self.window.pop(0)  # a rolling window of the last sustain_s
        if len(self.window) < r.min_readings or t - self.window[0][0] < r.sustain_s:
            return False
        mean = sum(w for _, w in self.window) // len(self.window)
        if short:
            return self._move(mean)
        if self.accept_w is not None and mean > self.accept_w:
            return self._move(mean)
        return False

    def _move(self, to_w: int) -> bool:
        old = self.accept_w
        if old is not None and not self.rules.moves(old, to_w):
            return False
        self.accept_w = to_w
        return True
