"""A scripted Modbus line for driver unit tests: register tables per unit, faults on demand.

It stands in for the transport (the one piece that touches a wire), so the bus and the
drivers above it run unchanged; integration tests run them against the simulator instead.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from edge.drivers.errors import BadFrame, BusError, DeviceRefused, NoResponse


@dataclass
class FakeDevice:
    input: dict[int, int] = field(default_factory=dict)
    holding: dict[int, int] = field(default_factory=dict)
    writable: set[int] | None = None  # holding addresses that accept writes (None: all present)


class FakeLine:
    name = "fake"

    def __init__(self, baud: int | None = None) -> None:
        self.devices: dict[int, FakeDevice] = {}
        self.faults: deque[BusError] = deque()  # raised by the next requests, in order
        self.log: list[tuple] = []
        self.serial = baud is not None
        self._baud = baud

    def char_time(self) -> float:
        return 11 / self._baud if self._baud else 0.0

    async def connect(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def _dev(self, unit: int) -> FakeDevice:
        dev = self.devices.get(unit)
        if dev is None:
            raise NoResponse(f"unit {unit}: no response", unit=unit)
        return dev

    async def read(self, unit: int, function: int, address: int, count: int, timeout: float) -> list[int]:
        self.log.append(("read", unit, function, address, count, timeout))
        if self.faults:
            raise self.faults.popleft()
        dev = self._dev(unit)
        table = dev.input if function == 4 else dev.holding
        try:
            return [table[a] for a in range(address, address + count)]
        except KeyError:
            raise DeviceRefused(f"unit {unit}: exception 02", unit=unit, code=2) from None

    async def write(self, unit: int, address: int, values: list[int], function: int, timeout: float) -> None:
        self.log.append(("write", unit, function, address, list(values)))
        if self.faults:
            raise self.faults.popleft()
        dev = self._dev(unit)
        allowed = dev.writable if dev.writable is not None else set(dev.holding)
        if any(a not in allowed for a in range(address, address + len(values))):
            raise DeviceRefused(f"unit {unit}: exception 02", unit=unit, code=2)
        for i, v in enumerate(values):
            dev.holding[address + i] = v

    def crc_error(self, unit: int = 1) -> BadFrame:
        return BadFrame("CRC error", unit=unit, kind="crc")


def u32(table: dict[int, int], address: int, value: int) -> None:
    table[address] = (value >> 16) & 0xFFFF
    table[address + 1] = value & 0xFFFF


def reference_pile(guns: int = 1, *, rated_w: int = 7000, kind: int = 1, phases: int = 1) -> FakeDevice:
    """Registers of a pile serving the reference map (spec/pile-modbus-map.md), idle."""
    d = FakeDevice()
    i = d.input
    i.update({0: 1, 1: guns, 2: kind, 3: phases, 6: 320, 7: 60, 16: 0x0102, 17: 7, 18: 5, 19: 0})
    u32(i, 4, rated_w)
    serial = b"SIM-0001".ljust(16, b"\0")
    for k in range(8):
        i[8 + k] = serial[2 * k] << 8 | serial[2 * k + 1]
    for g in range(1, guns + 1):
        b = 100 * g
        for off in range(25):
            i[b + off] = 0
        i[b + 2], i[b + 3], i[b + 4] = 2300, 0xFFFF, 0xFFFF
        i[b + 6], i[b + 7] = 0xFFFF, 0xFFFF
        u32(i, b + 10, 123_456)
        i[b + 17] = 251
        i[b + 18] = 0xFFFF
        for off in range(9):
            d.holding[b + off] = 0
    for a in (10, 11, 12, 19):
        d.holding[a] = 0
    return d


def arcm300t(unit: int = 10, s_va: int = 120_000) -> FakeDevice:
    d = FakeDevice()
    h = d.holding
    h.update({0: unit, 1: 4, 4: 0, 14: 1, 15: 1, 16: 250})
    for a in range(20, 23):
        h[a] = 2300
    for a in range(23, 26):
        h[a] = 3984
    for a in range(26, 29):
        h[a] = 17391
    for a in range(30, 54, 2):
        u32(h, a, 0)
    u32(h, 36, int(s_va * 0.95))
    u32(h, 52, s_va)
    for a in range(54, 58):
        h[a] = 950
    h[58], h[59] = 0, 5000
    for a in range(60, 70, 2):
        u32(h, a, 1_000_000)
    h[356], h[357], h[358] = 300, 300, 300
    h[449], h[491] = 5, 0
    d.input = h  # the meter answers FC 04 with the same data
    return d
