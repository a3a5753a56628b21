"""The simulator's clock: real time for protocol timing, simulated time for physics.

Two time bases, on purpose:
- `real()`: monotonic seconds of the host. Protocol timing uses it (start delay, the delay
  before a new power limit takes effect, the watchdog, wire timing), so a gateway under test
  sees the same reaction times whatever the speed.
- `sim()`: simulated seconds since the scenario started, running `speed` times faster than
  real time. Physics and the scenario use it (energy, SoC, session_seconds, uptime, the
  scenario's schedule, the base-load curve), so a day can pass in minutes.

`ManualClock` moves only when a test tells it to; the models take either.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    def real(self) -> float:
        """Monotonic real seconds (arbitrary origin)."""

    def sim(self) -> float:
        """Simulated seconds since the scenario started."""

    @property
    def speed(self) -> float: ...

    def set_speed(self, speed: float) -> None: ...


class SimClock:
    """Simulated time = real elapsed time x speed; changing the speed never jumps sim time."""

    def __init__(self, speed: float = 1.0, real: Callable[[], float] = time.monotonic) -> None:
        _check_speed(speed)
        self._real = real
        self._speed = float(speed)
        self._anchor_real = real()
        self._anchor_sim = 0.0

    def real(self) -> float:
        return self._real()

    def sim(self) -> float:
        return self._anchor_sim + (self._real() - self._anchor_real) * self._speed

    @property
    def speed(self) -> float:
        return self._speed

    def set_speed(self, speed: float) -> None:
        _check_speed(speed)
        now = self._real()
        self._anchor_sim = self._anchor_sim + (now - self._anchor_real) * self._speed
        self._anchor_real = now
        self._speed = float(speed)


class ManualClock(SimClock):
    """A clock for tests: `advance(seconds)` moves real time, and sim time by speed x that."""

    def __init__(self, speed: float = 1.0, start_real: float = 1000.0) -> None:
        self._now = start_real
        super().__init__(speed, real=lambda: self._now)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._now += seconds


MAX_SPEED = 100_000.0


def _check_speed(speed: float) -> None:
    if not 0 < float(speed) <= MAX_SPEED:
        raise ValueError(f"speed must be > 0 and <= {MAX_SPEED:g}, got {speed!r}")
