"""The bus on a fake clock: retries, lost devices, backoff probes, pacing and priority."""

from __future__ import annotations

import asyncio

import pytest

from edge.clock import FakeClock
from edge.drivers.bus import NORMAL, URGENT, Bus, BusSettings
from edge.drivers.errors import BadFrame, DeviceLost, DeviceRefused, NoResponse

from .fakes import FakeLine, reference_pile


def make(baud=None, **kw):
    line = FakeLine(baud)
    line.devices[1] = reference_pile()
    clock = FakeClock(autoadvance=True)
    return line, clock, Bus(line, BusSettings(**kw), clock)


async def test_a_damaged_reply_is_retried_and_counted():
    line, _, bus = make(retries=1)
    line.faults.append(BadFrame("CRC error", unit=1, kind="crc"))
    assert await bus.read(1, 4, 0, 2) == [1, 1]
    assert bus.counters["crc"] == 1 and bus.counters["retries"] == 1
    assert not bus.health(1).lost


async def test_retries_are_bounded():
    line, _, bus = make(retries=2)
    line.faults.extend([NoResponse("x", unit=1)] * 5)
    with pytest.raises(NoResponse):
        await bus.read(1, 4, 0, 2)
    assert len(line.log) == 3


async def test_device_lost_after_n_failures_then_probed_with_backoff_then_back():
    line, clock, bus = make(retries=0, lost_after=3, backoff_s=1.0, backoff_max_s=4.0)
    del line.devices[1]
    for _ in range(3):
        with pytest.raises(NoResponse):
            await bus.read(1, 4, 0, 1)
    h = bus.health(1)
    assert h.lost
    # not due yet: refused without touching the line
    n = len(line.log)
    with pytest.raises(DeviceLost):
        await bus.read(1, 4, 0, 1)
    assert len(line.log) == n
    # probes come at 1, 2, 4, 4 s …
    intervals = []
    for _ in range(4):
        start = clock.monotonic()
        while True:
            try:
                await bus.read(1, 4, 0, 1)
            except DeviceLost:
                clock.advance(0.25)
                continue
            except NoResponse:
                break
        intervals.append(round(clock.monotonic() - start + 0.001, 0))
    assert intervals == [1.0, 2.0, 4.0, 4.0]
    line.devices[1] = reference_pile()
    clock.advance(5)
    assert await bus.read(1, 4, 0, 1) == [1]
    assert not bus.health(1).lost and bus.health(1).failures == 0


async def test_an_exception_reply_means_the_device_is_there():
    line, _, bus = make(retries=3, lost_after=1)
    with pytest.raises(DeviceRefused) as info:
        await bus.read(1, 4, 5000, 1)
    assert info.value.code == 2
    assert len(line.log) == 1  # not retried
    assert not bus.health(1).lost


async def test_rtu_timeout_includes_wire_time_and_frames_are_spaced():
    line, clock, bus = make(baud=9600, timeout_s=0.1, pause_s=0.0)
    t0 = clock.monotonic()
    await bus.read(1, 4, 100, 25)
    await bus.read(1, 4, 100, 25)
    timeout = line.log[0][5]
    wire = (8 + 5 + 50 + 7) * 11 / 9600
    assert timeout == pytest.approx(0.1 + wire)
    # the second request waited 3.5 characters of silence after the first
    assert clock.monotonic() - t0 == pytest.approx(3.5 * 11 / 9600)


async def test_urgent_requests_jump_the_queue():
    line = FakeLine()
    line.devices[1] = reference_pile()
    order = []
    gate = asyncio.Event()
    real_read = line.read

    async def slow_read(unit, function, address, count, timeout):
        order.append(address)
        if address == 0:
            await gate.wait()
        return await real_read(unit, function, address, count, timeout)

    line.read = slow_read
    bus = Bus(line, BusSettings(), FakeClock(autoadvance=True))
    first = asyncio.create_task(bus.read(1, 4, 0, 1))
    await asyncio.sleep(0)
    polls = [asyncio.create_task(bus.read(1, 4, 100 + i, 1)) for i in range(3)]
    await asyncio.sleep(0)
    meter = asyncio.create_task(bus.read(1, 4, 1, 1, priority=URGENT))
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(first, meter, *polls)
    assert order == [0, 1, 100, 101, 102]


async def test_cancelled_waiter_does_not_wedge_the_lock():
    line, _, bus = make()
    gate = asyncio.Event()
    real = line.read

    async def blocking(*a):
        await gate.wait()
        return await real(*a)

    line.read = blocking
    t1 = asyncio.create_task(bus.read(1, 4, 0, 1))
    await asyncio.sleep(0)
    t2 = asyncio.create_task(bus.read(1, 4, 0, 1))
    await asyncio.sleep(0)
    t2.cancel()
    gate.set()
    await t1
    line.read = real
    assert await asyncio.wait_for(bus.read(1, 4, 0, 1), 1) == [1]


async def test_hold_keeps_the_line_for_a_burst_of_writes():
    line = FakeLine()
    line.devices[1] = reference_pile(guns=2)
    line.devices[1].holding.update({301: 0, 302: 0})
    order = []
    real_write, real_read = line.write, line.read

    async def write(unit, address, values, function, timeout):
        order.append(("w", address))
        await asyncio.sleep(0)  # give others every chance to cut in
        return await real_write(unit, address, values, function, timeout)

    async def read(unit, function, address, count, timeout):
        order.append(("r", address))
        return await real_read(unit, function, address, count, timeout)

    line.write, line.read = write, read
    bus = Bus(line, BusSettings(), FakeClock(autoadvance=True))

    async def burst():
        async with bus.hold(URGENT):
            for gun in (1, 2, 3):
                await bus.write(1, 100 * gun + 1, [0, 0])

    async def polls():
        await asyncio.sleep(0)
        for _ in range(3):
            await bus.read(1, 4, 0, 1)

    await asyncio.gather(burst(), polls())
    assert order[:3] == [("w", 101), ("w", 201), ("w", 301)]
    assert [o[0] for o in order[3:]] == ["r", "r", "r"]
    # and the lock is free again
    assert await asyncio.wait_for(bus.read(1, 4, 0, 1), 1) == [1]


async def test_a_routine_hold_lets_the_urgent_read_through_then_resumes_ahead_of_polls():
    line = FakeLine()
    line.devices[1] = reference_pile(guns=2)
    line.devices[1].holding.update({301: 0, 302: 0})
    order = []
    real_write, real_read = line.write, line.read

    async def write(unit, address, values, function, timeout):
        order.append(("w", address))
        for _ in range(3):
            await asyncio.sleep(0)  # the others queue for the line meanwhile
        return await real_write(unit, address, values, function, timeout)

    async def read(unit, function, address, count, timeout):
        order.append(("r", address))
        return await real_read(unit, function, address, count, timeout)

    line.write, line.read = write, read
    bus = Bus(line, BusSettings(), FakeClock(autoadvance=True))

    async def burst():
        async with bus.hold(NORMAL):
            for gun in (1, 2, 3):
                await bus.let_urgent_pass()
                await bus.write(1, 100 * gun + 1, [0, 0])

    async def poll():
        await asyncio.sleep(0)
        await bus.read(1, 4, 7, 1)  # a routine poll, queued at the burst's own priority

    async def urgent():
        await asyncio.sleep(0)
        await bus.read(1, 4, 5, 1, priority=URGENT)

    await asyncio.gather(burst(), poll(), urgent())
    assert order == [("w", 101), ("r", 5), ("w", 201), ("w", 301), ("r", 7)]
    assert await asyncio.wait_for(bus.read(1, 4, 0, 1), 1) == [1]


async def test_an_urgent_hold_lets_nothing_through():
    line = FakeLine()
    line.devices[1] = reference_pile(guns=2)
    order = []
    real_write = line.write

    async def write(unit, address, values, function, timeout):
        order.append(address)
        for _ in range(3):
            await asyncio.sleep(0)
        return await real_write(unit, address, values, function, timeout)

    line.write = write
    bus = Bus(line, BusSettings(), FakeClock(autoadvance=True))

    async def burst():
        async with bus.hold(URGENT):
            for gun in (1, 2):
                await bus.let_urgent_pass()
                await bus.write(1, 100 * gun + 1, [0, 0])

    async def other_urgent():
        await asyncio.sleep(0)
        await bus.write(1, 19, [4], priority=URGENT)

    await asyncio.gather(burst(), other_urgent())
    assert order == [101, 201, 19]
