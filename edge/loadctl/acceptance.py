"""What the car really takes (orderly charging), learned from what its gun measures.

The pile map gives no acceptance figure: a car draws up to the limit the pile holds, or less
(its on-board charger's current, a DC battery tapering near full). The orderly planner
(`orderly.plan(..., accept_w=)`) counts on this figure once it is known; until then on the
pile's power.

    a = Acceptance()
    a.observe(t, limit_w, power_w, charging)   # every new reading; t: monotonic s
    a.accept_w                                  # W the car takes, None: not known

Pure: no clock, no I/O. Rules, all from readings of a charging gun with a limit above 0:
- After the limit changes, RAMP_S of readings are ignored: a car follows a new limit
  gradually (IEC 61851 gives an AC car 5 s; a DC charger ramps).
- A shortfall counts when it is clear — under SHORTFALL_PCT of the limit and at least
  SHORTFALL_MIN_W below it — and sustained: every reading for SUSTAIN_S (at least
  MIN_READINGS of them). One reading at the limit starts the window again. Then the figure is
  the mean measured over the window, down or up from what it was (a taper lowers it, a car
  that takes more under the same limit raises it).
- A car drawing its whole limit for SUSTAIN_S takes at least that: a known figure below the
  mean rises to it (the limit was raised and the car followed). Drawing a limit below the
  figure in full says nothing above it: the figure stays.
- The figure moves only by more than MOVE_PCT of itself (or MOVE_MIN_W), so the plan is not
  made again for the meter's noise.
A reading not charging (the car paused, the pile holding 0 W) or without a limit starts the
window again; the figure is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RAMP_S = 10.0  # after a limit change: readings ignored while the car follows it
SUSTAIN_S = 15.0  # how long a shortfall (or a full draw) must last to count
MIN_READINGS = 3  # … in at least this many readings: never one sample
SHORTFALL_PCT = 90.0  # a reading under this % of the limit …
SHORTFALL_MIN_W = 200  # … and at least this far below it falls short
MOVE_PCT = 3.0  # the figure changes only by more than this % of itself …
MOVE_MIN_W = 100  # … or this many W, whichever is more


def falls_short(limit_w: int, power_w: int) -> bool:
    """A reading clearly below the limit the pile holds."""
    return power_w * 100 < limit_w * SHORTFALL_PCT and limit_w - power_w >= SHORTFALL_MIN_W


@dataclass
class Acceptance:
    """One session's learned acceptance; feed it every new reading of its gun."""

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
        if t - self.limit_since < RAMP_S:
            return False
        short = falls_short(limit_w, power_w)
        if short != self.short:
            self.short = short
            self.window.clear()
        self.window.append((t, power_w))
        while len(self.window) > MIN_READINGS and t - self.window[1][0] >= SUSTAIN_S:
            self.window.pop(0)  # a rolling window of the last SUSTAIN_S
        if len(self.window) < MIN_READINGS or t - self.window[0][0] < SUSTAIN_S:
            return False
        mean = sum(w for _, w in self.window) // len(self.window)
        if short:
            return self._move(mean)
        if self.accept_w is not None and mean > self.accept_w:
            return self._move(mean)
        return False

    def _move(self, to_w: int) -> bool:
        old = self.accept_w
        if old is not None and abs(to_w - old) <= max(MOVE_MIN_W, old * MOVE_PCT / 100.0):
            return False
        self.accept_w = to_w
        return True
