"""Jumps of the wall clock (NTP set it, or someone did), noticed by comparing it with the
monotonic clock between two looks: record times and tariff periods depend on it."""

from __future__ import annotations

from edge.clock import Clock
from edge.runtime import StationEvent

CLOCK_SKEW_S = 2.0  # a wall-clock jump this large is recorded as a clock_skew event


class ClockWatch:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._clock_ref: tuple[float, float] | None = None  # (monotonic, wall) at the last look

    def check(self) -> list[StationEvent]:
        """The wall clock jumped since the last look: a `clock_skew` event saying by how much."""
        mono, wall = self.clock.monotonic(), self.clock.time()
        ref, self._clock_ref = self._clock_ref, (mono, wall)
        if ref is None:
            return []
        expected = (mono - ref[0]) * getattr(self.clock, "speed", 1.0)
        jump = (wall - ref[1]) - expected
        if abs(jump) < CLOCK_SKEW_S:
            return []
        return [StationEvent("clock_skew", None, {"jump_s": round(jump, 3), "wall_ms": int(wall * 1000)})]
