"""Clocks: the real one, and a fake one that tests advance by hand.

Everything in the gateway that waits, times out or backs off takes a clock, so that logic
is tested without sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes backwards."""

    def time(self) -> float:
        """Seconds since the Unix epoch (wall clock, may jump)."""

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that moves only when told. `sleep` returns once `advance` passes its deadline."""

    def __init__(self, start_wall: float = 1_767_225_600.0, start_mono: float = 1000.0,
                 *, autoadvance: bool = False) -> None:
        # autoadvance: a sleep moves the clock by its own length and returns at once — for
        # code under test that only ever waits on this clock.
        self.autoadvance = autoadvance
        self._mono = start_mono
        self._wall_offset = start_wall - start_mono
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()

    def monotonic(self) -> float:
        return self._mono

    def time(self) -> float:
        return self._mono + self._wall_offset

    def set_wall(self, wall: float) -> None:
        """Jump the wall clock (as NTP might) without moving the monotonic one."""
        self._wall_offset = wall - self._mono

    async def sleep(self, seconds: float) -> None:
        if self.autoadvance:
            self.advance(max(0.0, seconds))
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + max(0.0, seconds), next(self._counter), fut))
        await fut

    def next_wake(self) -> float | None:
        """The earliest deadline a sleeper waits for (None: nobody sleeps) — for tests that
        run several tasks in simulated time, advancing from one wake to the next."""
        pending = [when for when, _, fut in self._sleepers if not fut.done()]
        return min(pending) if pending else None

    def advance(self, seconds: float) -> None:
        self._mono += seconds
        while self._sleepers and self._sleepers[0][0] <= self._mono:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)


class ScaledClock(SystemClock):
    """Wall time running `speed` times faster than real time from an anchor — for tests and
    demos that play a whole day against a simulator running at the same speed. Monotonic time
    (timeouts, poll periods) stays real. The anchor is fixed, so a restarted process continues
    the same scaled day rather than starting it again."""

    def __init__(self, anchor_real: float, start_wall: float, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be above 0")
        self.anchor_real, self.start_wall, self.speed = anchor_real, start_wall, speed

    def time(self) -> float:
        return self.start_wall + (time.time() - self.anchor_real) * self.speed

    @classmethod
    def from_env(cls, value: str) -> ScaledClock:
        """JC_TEST_CLOCK="<anchor real epoch s>:<wall epoch s at the anchor>:<speed>"."""
        try:
            anchor, start, speed = (float(x) for x in value.split(":"))
        except ValueError:
            raise ValueError(f"JC_TEST_CLOCK={value!r}: write anchor:start:speed, e.g. "
                             f"1767225600:1767225600:60") from None
        return cls(anchor, start, speed)
