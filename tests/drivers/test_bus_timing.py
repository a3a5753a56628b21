"""The line's timing on a simulated 9600-baud RS-485 line (fake clock, every transaction
taking its wire time): the 3.5-character silence runs from the reply's last byte, and the
meter's load read waits for at most the one transaction already on the line — during pile
polls, heartbeats and a routine batch of limit writes alike — while the writes of its own
decision then go out back to back."""

from __future__ import annotations

import asyncio
import random

import pytest

from edge.clock import FakeClock
from edge.drivers.bus import NORMAL, URGENT, Bus, BusSettings
from edge.drivers.errors import LinkDown
from edge.drivers.meter import RegisterMapMeter
from edge.drivers.pile import RegisterMapPile
from edge.drivers.profile import load_profile
from edge.drivers.transport import rtu_request_bytes, rtu_response_bytes

from .fakes import FakeLine, arcm300t, reference_pile

BAUD = 9600
CHAR = 11 / BAUD
GAP = 3.5 * CHAR
TURNAROUND = 0.005
DECODE = 0.003  # the gateway's own work after a reply's last byte, on the line's clock
METER = 100


class TimedLine(FakeLine):
    """A fake line on which each transaction takes its wire time on the clock, then the
    gateway spends DECODE before it returns. Logs (kind, unit, sent at, reply complete at)."""

    def __init__(self, clock: FakeClock, *, reply_clock_offset: float = 0.0) -> None:
        super().__init__(BAUD)
        self.clock = clock
        self.offset = reply_clock_offset  # a reply time on another clock than the bus's
        self.reply_at: float | None = None
        self.timeline: list[tuple[str, int, float, float]] = []

    async def _on_wire(self, kind: str, unit: int, req: int, resp: int) -> None:
        sent = self.clock.monotonic()
        self.reply_at = None
        await self.clock.sleep((req + GAP / CHAR + resp) * CHAR + TURNAROUND)
        done = self.clock.monotonic()
        self.reply_at = done + self.offset
        self.timeline.append((kind, unit, sent, done))
        await self.clock.sleep(DECODE)

    async def read(self, unit, function, address, count, timeout):
        await self._on_wire("read", unit, rtu_request_bytes(function), rtu_response_bytes(function, count))
        return await super().read(unit, function, address, count, timeout)

    async def write(self, unit, address, values, function, timeout):
        await self._on_wire("write", unit, rtu_request_bytes(function, len(values)), rtu_response_bytes(function))
        return await super().write(unit, address, values, function, timeout)


async def run_until(clock: FakeClock, until: float, tasks: list[asyncio.Task]) -> None:
    """Simulated time: let every task run until all wait on the clock, then move the clock
    to the next wake."""
    while clock.monotonic() < until and not all(t.done() for t in tasks):
        for _ in range(20):
            await asyncio.sleep(0)
        nxt = clock.next_wake()
        if nxt is None:
            break
        clock.advance(max(0.0, min(nxt, until) - clock.monotonic()))
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for t in tasks:
        if not t.cancelled() and t.exception() is not None:
            raise t.exception()


async def test_the_silence_runs_from_the_replys_last_byte_not_from_its_decoding():
    clock = FakeClock()
    line = TimedLine(clock)
    line.devices[1] = reference_pile()
    bus = Bus(line, BusSettings(pause_s=0.0), clock)

    async def two_reads():
        await bus.read(1, 4, 100, 25)
        await bus.read(1, 4, 100, 25)

    await run_until(clock, clock.monotonic() + 5, [asyncio.ensure_future(two_reads())])
    (_, _, _, first_done), (_, _, second_sent, _) = line.timeline
    # 3.5 characters after the first reply ended; the 3 ms spent decoding it count as silence
    assert second_sent - first_done == pytest.approx(GAP)


async def test_a_line_gone_down_settles_for_its_backoff_before_the_next_request():
    clock = FakeClock()
    line = TimedLine(clock)
    line.devices[1] = reference_pile()
    bus = Bus(line, BusSettings(pause_s=0.0, retries=0, backoff_s=1.0), clock)
    line.faults.append(LinkDown("the port went away"))

    async def two_reads():
        with pytest.raises(LinkDown):
            await bus.read(1, 4, 100, 25)
        await bus.read(1, 4, 100, 25)

    await run_until(clock, clock.monotonic() + 5, [asyncio.ensure_future(two_reads())])
    (_, _, _, first_done), (_, _, second_sent, _) = line.timeline
    # the settle time, not the 3.5-character gap, after a link failure
    assert second_sent - first_done >= 1.0 - 1e-9


@pytest.mark.parametrize("offset", [-50.0, +50.0])
async def test_a_reply_time_off_the_bus_clock_is_not_trusted(offset):
    clock = FakeClock()
    line = TimedLine(clock, reply_clock_offset=offset)
    line.devices[1] = reference_pile()
    bus = Bus(line, BusSettings(pause_s=0.0), clock)

    async def two_reads():
        await bus.read(1, 4, 100, 25)
        await bus.read(1, 4, 100, 25)

    await run_until(clock, clock.monotonic() + 5, [asyncio.ensure_future(two_reads())])
    (_, _, _, first_done), (_, _, second_sent, _) = line.timeline
    # never sooner than 3.5 characters after the gateway is done with the reply
    assert second_sent - first_done == pytest.approx(DECODE + GAP)


async def test_the_meter_read_waits_for_one_transaction_at_most_and_its_writes_go_back_to_back():
    clock = FakeClock()
    line = TimedLine(clock)
    jc, arcm = load_profile("jc-ref-v1"), load_profile("arcm300t")
    for unit in range(1, 17):
        line.devices[unit] = reference_pile(guns=2, rated_w=120_000, kind=2, phases=0)
    line.devices[METER] = arcm300t(METER)
    bus = Bus(line, BusSettings(pause_s=0.0), clock)
    piles = [RegisterMapPile(bus, unit, jc) for unit in range(1, 17)]
    meter = RegisterMapMeter(bus, METER, arcm)
    rng = random.Random(8)
    wanted: list[float] = []  # when the meter's tick asked for the line
    decisions: list[tuple[float, float]] = []  # (first write sent, last write sent) of a decision

    async def meter_loop():
        await meter.identify()
        n = 0
        while True:
            await clock.sleep(0.1 + rng.uniform(0, 0.05))  # every phase against the polls
            wanted.append(clock.monotonic())
            async with bus.hold(URGENT):
                await meter.read_load()
                n += 1
                if n % 10 == 0:  # a crossing: this decision's limits, all 32 guns, at once
                    start = len(line.timeline)
                    for p in piles:
                        for g in (1, 2):
                            await p.set_power_limit(g, 30_000 + n, URGENT)
                    decisions.append((line.timeline[start][2], line.timeline[-1][2]))

    async def poll_loop():  # the bus loop: every gun's block, the meter's full reading, refreshes
        for p in piles:
            await p.identify()
        while True:
            for p in piles:
                await p.read_guns()
            await meter.read_meter()
            async with bus.hold(NORMAL):
                for p in piles:
                    await bus.let_urgent_pass()
                    await p.set_power_limit(1, 60_000, NORMAL)

    async def heartbeat_loop():
        while True:
            for p in piles:
                await p.heartbeat(1)
            await clock.sleep(5.0)

    tasks = [asyncio.ensure_future(c()) for c in (meter_loop, poll_loop, heartbeat_loop)]
    await run_until(clock, clock.monotonic() + 30, tasks)

    meter_reads = [(sent, done) for kind, unit, sent, done in line.timeline
                   if unit == METER and kind == "read"]
    longest = max(done - sent for _, _, sent, done in line.timeline) + DECODE + GAP
    assert len(wanted) > 80 and len(decisions) > 8
    waits = []
    for asked in wanted:
        sent = min(s for s, _ in meter_reads if s >= asked)
        waits.append(sent - asked)
    # never more than the one transaction on the line when the tick came (and its silence)
    assert max(waits) <= longest + 1e-9
    assert max(waits) > 0.05  # the bound is reached: pile polls were on the line
    # a decision's 32 writes go out back to back at the line's own pace (its wire floor),
    # nothing of the polls in between
    per_write = (13 + 3.5 + 8 + 3.5) * CHAR + TURNAROUND
    for first, last in decisions:
        assert last - first == pytest.approx(31 * per_write)
