"""One bus object per line: an RS-485 port or a Modbus TCP host:port.

An RS-485 line is half duplex: one transaction at a time, with a quiet gap between frames.
The bus serialises requests (urgent ones — the transformer meter — go first), paces them,
retries a damaged or missing reply a bounded number of times, and keeps each device's health:
a device that fails `lost_after` transactions in a row is marked lost and then only probed
with exponential backoff, so that a dead pile does not eat the line's time (the shape of
Home Assistant's ModbusHub and OpenEMS's DefectiveComponents). All timing on an injected clock.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from edge.clock import Clock, SystemClock
from edge.drivers.errors import BusError, DeviceLost, LinkDown
from edge.drivers.transport import (
    ModbusTransport,
    rtu_request_bytes,
    rtu_response_bytes,
)

log = logging.getLogger(__name__)

SPIN_S = 0.002
URGENT = 0  # priority of the meter's load reading
NORMAL = 1


@dataclass
class BusSettings:
    timeout_s: float = 0.5  # beyond the frames' own wire time
    retries: int = 1  # extra attempts after a timeout or a damaged reply
    pause_s: float = 0.0  # extra quiet time between frames, beyond 3.5 characters
    lost_after: int = 3  # failed transactions in a row before a device counts as lost
    backoff_s: float = 1.0  # first probe interval for a lost device, doubling …
    backoff_max_s: float = 30.0  # … up to this


@dataclass
class DeviceHealth:
    unit: int
    lost: bool = False
    failures: int = 0  # failed transactions in a row
    probe_at: float = 0.0  # while lost: not before this (monotonic)
    probes: int = 0
    last_ok: float | None = None
    last_error: str | None = None
    counters: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {
            "unit": self.unit,
            "lost": self.lost,
            "failures": self.failures,
            "last_error": self.last_error,
            "counters": dict(self.counters),
        }


class _PriorityLock:
    """A lock granted by (priority, arrival): the meter's read jumps the queue of pile polls."""

    def __init__(self) -> None:
        self._busy = False
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    async def acquire(self, priority: float) -> None:
        if not self._busy and not self._waiters:
            self._busy = True
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._seq), fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # granted just as we were cancelled: pass it on
            raise

    def more_urgent_waiting(self, priority: float) -> bool:
        return any(p < priority and not f.done() for p, _, f in self._waiters)

    def release(self) -> None:
        while self._waiters:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)
                return
        self._busy = False


class Bus:
    def __init__(self, transport: ModbusTransport, settings: BusSettings | None = None,
                 clock: Clock | None = None) -> None:
        self.transport = transport
        self.settings = settings or BusSettings()
        self.clock = clock or SystemClock()
        self.name = transport.name
        self._lock = _PriorityLock()
        self._holder: asyncio.Task[Any] | None = None  # the task holding the line (see hold())
        self._hold_priority: int = URGENT
        self._quiet_until = 0.0
        self._health: dict[int, DeviceHealth] = {}
        self.counters: Counter[str] = Counter()
        self.busy_s = 0.0  # time spent in transactions, for the line-utilisation figure

    # ---- health ----------------------------------------------------------------------

    def health(self, unit: int) -> DeviceHealth:
        h = self._health.get(unit)
        if h is None:
            h = self._health[unit] = DeviceHealth(unit)
        return h

    def devices(self) -> list[DeviceHealth]:
        return [self._health[u] for u in sorted(self._health)]

    def _due(self, h: DeviceHealth) -> bool:
        return not h.lost or self.clock.monotonic() >= h.probe_at

    def _alive(self, h: DeviceHealth) -> None:
        if h.lost:
            log.info("%s: unit %d answers again", self.name, h.unit)
        h.lost, h.failures, h.probes = False, 0, 0
        h.last_ok = self.clock.monotonic()

    def _failed(self, h: DeviceHealth, exc: BusError) -> None:
        h.failures += 1
        h.last_error = str(exc)
        if not h.lost and h.failures >= self.settings.lost_after:
            h.lost = True
            log.warning("%s: unit %d lost after %d failures: %s", self.name, h.unit, h.failures, exc)
        if h.lost:
            delay = min(self.settings.backoff_max_s, self.settings.backoff_s * (2 ** h.probes))
            h.probes += 1
            h.probe_at = self.clock.monotonic() + delay

    # ---- transactions ----------------------------------------------------------------

    def _timeout(self, request_bytes: int, response_bytes: int) -> float:
        ct = self.transport.char_time()
        return self.settings.timeout_s + (request_bytes + response_bytes + 7) * ct

    def held(self) -> bool:
        """Whether the calling task holds the line (inside its hold())."""
        return self._holder is not None and self._holder is asyncio.current_task()

    @asynccontextmanager
    async def hold(self, priority: int = URGENT) -> AsyncIterator[None]:
        """Keep the line for several transactions of the calling task (frames still paced):
        the limit writes of one load-control decision go out back to back instead of each
        waiting behind a queued pile poll."""
        task = asyncio.current_task()
        if self._holder is task:
            yield
            return
        await self._lock.acquire(priority)
        self._holder, self._hold_priority = task, priority
        try:
            yield
        finally:
            if self._holder is task:  # (not while let_urgent_pass() waits to get it back)
                self._holder = None
                self._lock.release()

    async def let_urgent_pass(self) -> None:
        """Inside hold(): if a more urgent transaction waits (the meter's load read during a
        burst of routine limit writes), let it have the line now; the hold resumes right
        after it, ahead of anything queued at the hold's own priority."""
        task = asyncio.current_task()
        if self._holder is not task or not self._lock.more_urgent_waiting(self._hold_priority):
            return
        priority = self._hold_priority
        self._holder = None
        self._lock.release()
        await self._lock.acquire(priority - 0.5)
        self._holder, self._hold_priority = task, priority

    @asynccontextmanager
    async def _turn(self, priority: int) -> AsyncIterator[None]:
        held = self.held()
        if not held:
            await self._lock.acquire(priority)
        started = self.clock.monotonic()
        try:
            wait = self._quiet_until - self.clock.monotonic()
            if not isinstance(self.clock, SystemClock):
                if wait > 0:
                    await self.clock.sleep(wait)
            elif wait > SPIN_S:
                # The loop's sleep ends up to a millisecond late (whole-millisecond timeouts).
                # An urgent turn (the meter's reading and the limits it calls for: 32 of them
                # in a row on one line) sleeps short of the end and yields out the rest; a
                # routine poll may come a little late.
                await asyncio.sleep(wait - SPIN_S / 2 if priority == URGENT else wait)
                while priority == URGENT and self.clock.monotonic() < self._quiet_until:
                    await asyncio.sleep(0)
            else:
                # The event loop sleeps in whole milliseconds; on a fast line the 3.5-char gap
                # is a fraction of that, so the rest of it is waited out by yielding.
                while self.clock.monotonic() < self._quiet_until:
                    await asyncio.sleep(0)
            yield
        finally:
            # 3.5 characters of silence end a frame on RS-485; nothing may follow sooner. They
            # run from the reply's last byte: the time spent decoding it is silence already
            # (~2 ms a write on the loaded bench machine, paid 32 times after a load-control
            # decision on a 9600-baud line; bench/RESULTS.md).
            now = self.clock.monotonic()
            end = getattr(self.transport, "reply_at", None)
            if end is None or not started <= end <= now:  # no reply, or not on this clock
                end = now
            # max: a line that went down during the turn keeps its longer settle time
            self._quiet_until = max(self._quiet_until,
                                    end + 3.5 * self.transport.char_time() + self.settings.pause_s)
            if not held:
                self._lock.release()

    async def _run(self, unit: int, priority: int, op: str, fn, req: int, resp: int):
        h = self.health(unit)
        if not self._due(h):
            self.counters["skipped"] += 1
            raise DeviceLost(f"{self.name}: unit {unit} is lost; next probe in "
                             f"{h.probe_at - self.clock.monotonic():.1f} s", unit=unit)
        timeout = self._timeout(req, resp)
        attempts = 1 + (self.settings.retries if not h.lost else 0)
        last: BusError | None = None
        async with self._turn(priority):
            for attempt in range(attempts):
                if attempt:
                    self.counters["retries"] += 1
                    h.counters["retries"] += 1
                started = self.clock.monotonic()
                try:
                    result = await fn(timeout)
                except BusError as exc:
                    self.busy_s += self.clock.monotonic() - started
                    self.counters[exc.kind] += 1
                    h.counters[exc.kind] += 1
                    last = exc
                    if isinstance(exc, LinkDown):
                        # Let the line settle before anyone else tries it.
                        self._quiet_until = self.clock.monotonic() + self.settings.backoff_s
                    if not exc.retryable:
                        break
                    continue
                self.busy_s += self.clock.monotonic() - started
                self.counters["ok"] += 1
                h.counters["ok"] += 1
                self._alive(h)
                return result
        assert last is not None
        if last.kind == "exception":
            # The device is there and answered: a refusal is not a sign of a lost device.
            self._alive(h)
        else:
            self._failed(h, last)
        log.debug("%s: unit %d %s failed: %s", self.name, unit, op, last)
        raise last

    async def read(self, unit: int, function: int, address: int, count: int,
                   priority: int = NORMAL) -> list[int]:
        async def fn(timeout: float) -> list[int]:
            return await self.transport.read(unit, function, address, count, timeout)

        return await self._run(unit, priority, f"read {function}:{address}+{count}", fn,
                               rtu_request_bytes(function), rtu_response_bytes(function, count))

    async def write(self, unit: int, address: int, values: list[int], function: int | None = None,
                    priority: int = NORMAL) -> None:
        fc = function or (6 if len(values) == 1 else 16)

        async def fn(timeout: float) -> None:
            await self.transport.write(unit, address, values, fc, timeout)

        await self._run(unit, priority, f"write {fc}:{address}", fn,
                        rtu_request_bytes(fc, len(values)), rtu_response_bytes(fc))

    async def close(self) -> None:
        await self.transport.close()

    def stats(self) -> dict[str, object]:
        # open_error: why the line (serial port, TCP connection) does not open, in the
        # operating system's words; None while it is open or never tried.
        return {"name": self.name, "counters": dict(self.counters),
                "open_error": getattr(self.transport, "open_error", None),
                "devices": [h.as_dict() for h in self.devices()]}
