"""The register-map device: reads and writes a device through its profile.

It turns a profile's named reads into as few requests as the device allows, decodes them,
and refuses absurd values — 0xFFFF where a value is due, a value outside the profile's range,
a lifetime register going backwards — so they are logged and counted and never reach
billing as truth.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from edge.drivers.bus import NORMAL, Bus
from edge.drivers.profile import (
    Block,
    Profile,
    ReadSpec,
    WriteSpec,
    encode_value,
    plan_blocks,
    raw_value,
)

log = logging.getLogger(__name__)

Value = int | float | str | frozenset[str]


@dataclass
class Values:
    """Decoded reads of one scope (the device, or one gun): name → value, absent when refused."""

    data: dict[str, Value] = field(default_factory=dict)
    invalid: list[str] = field(default_factory=list)

    def get(self, name: str, default: Value | None = None) -> Value | None:
        return self.data.get(name, default)

    def int(self, name: str) -> int | None:
        v = self.data.get(name)
        return int(v) if isinstance(v, (int, float)) else None

    def float(self, name: str) -> float | None:
        v = self.data.get(name)
        return float(v) if isinstance(v, (int, float)) else None


class RegisterMapDevice:
    def __init__(self, bus: Bus, unit: int, profile: Profile) -> None:
        self.bus = bus
        self.unit = unit
        self.profile = profile
        self.invalid_counts: Counter[str] = Counter()
        self._last_good: dict[tuple[int | None, str], tuple[float, float]] = {}  # value, when
        self._plans: dict[tuple[str, int | None, tuple[str, ...]], list[Block]] = {}
        self._pt = 1.0
        self._ct = 1.0
        self._logged: set[tuple[int | None, str]] = set()

    # ---- reading ---------------------------------------------------------------------

    def _base(self, scope: str, gun: int | None) -> int:
        if scope == "gun":
            assert self.profile.guns is not None and gun is not None
            return self.profile.guns.offset(gun)
        return 0

    def _plan(self, scope: str, gun: int | None, polls: tuple[str, ...]) -> list[Block]:
        key = (scope, gun, polls)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = plan_blocks(
                self.profile.reads_for(scope, polls), self._base(scope, gun),
                self.profile.max_block, self.profile.max_gap)
        return plan

    async def read_values(self, scope: str, polls: tuple[str, ...], gun: int | None = None,
                          priority: int = NORMAL) -> Values:
        out = Values()
        for block in self._plan(scope, gun, polls):
            regs = await self.bus.read(self.unit, block.function, block.address, block.count, priority)
            for spec, addr in block.reads:
                chunk = regs[addr - block.address: addr - block.address + spec.registers]
                self._decode_into(out, spec, chunk, gun)
        return out

    def _decode_into(self, out: Values, spec: ReadSpec, regs: list[int], gun: int | None) -> None:
        raw = raw_value(spec, regs, self.profile)
        if raw is None:
            return  # "not available": the device says it has no value here
        if spec.dtype.kind == "string":
            out.data[spec.name] = raw
            return
        if spec.dtype.kind == "bits":
            table = self.profile.maps.get(spec.map or "", {})
            out.data[spec.name] = frozenset(
                table.get(bit, f"bit{bit}") for bit in range(16) if int(raw) >> bit & 1)
            return
        if spec.map:
            name = self.profile.maps[spec.map].get(int(raw))
            if name is None:
                self._refuse(out, spec, gun, f"code {raw} is not in [maps.{spec.map}]")
                return
            out.data[spec.name] = name
            return
        value: float = raw * spec.scale if spec.scale != 1.0 else raw
        if spec.pt:
            value *= self._pt
        if spec.ct:
            value *= self._ct
        if spec.range is not None and not spec.range[0] <= value <= spec.range[1]:
            self._refuse(out, spec, gun, f"{value:g} {spec.unit or ''} outside {spec.range[0]:g}..{spec.range[1]:g}")
            return
        if spec.monotonic:
            key = (gun, spec.name)
            last = self._last_good.get(key)
            now = self.bus.clock.monotonic()
            if last is not None and value < last[0]:
                self._refuse(out, spec, gun, f"went backwards from {last[0]:g} to {value:g}")
                return
            if last is not None:
                most = self.max_rise(spec, now - last[1])
                if most is not None and value - last[0] > most:
                    self._refuse(out, spec, gun, f"jumped from {last[0]:g} to {value:g} in "
                                                 f"{now - last[1]:.1f} s, more than the device can deliver")
                    return
            self._last_good[key] = (value, now)
        if spec.dtype.kind == "int" and float(spec.scale).is_integer():
            value = int(round(value))
        out.data[spec.name] = value

    def _refuse(self, out: Values, spec: ReadSpec, gun: int | None, why: str) -> None:
        out.invalid.append(spec.name)
        self.invalid_counts[spec.name] += 1
        self.bus.health(self.unit).counters["invalid"] += 1
        key = (gun, spec.name)
        where = f"unit {self.unit}" + (f" gun {gun}" if gun is not None else "")
        # Log the first occurrence loudly, then quietly: a stuck register would flood the log.
        if key not in self._logged:
            self._logged.add(key)
            log.warning("%s %s: refused %s: %s", self.bus.name, where, spec.name, why)
        else:
            log.debug("%s %s: refused %s: %s", self.bus.name, where, spec.name, why)

    def max_rise(self, spec: ReadSpec, seconds: float) -> float | None:
        """The most a monotonic counter can plausibly rise in `seconds` (None: no bound)."""
        return None

    def set_ratios(self, pt: float, ct: float) -> None:
        self._pt, self._ct = pt, ct

    # ---- writing ---------------------------------------------------------------------

    def _write_spec(self, name: str) -> WriteSpec:
        spec = self.profile.writes.get(name)
        if spec is None:
            raise KeyError(f"profile {self.profile.id} has no [write.{name}]")
        return spec

    def can_write(self, name: str) -> bool:
        return name in self.profile.writes

    async def write_value(self, name: str, value: int, gun: int | None = None,
                          priority: int = NORMAL) -> None:
        spec = self._write_spec(name)
        regs = encode_value(spec, value, self.profile)
        address = self._base(spec.scope, gun) + spec.address
        fc = self.profile.write_function or (6 if len(regs) == 1 else 16)
        await self.bus.write(self.unit, address, regs, fc, priority)

    async def write_command(self, name: str, command: str, gun: int | None = None) -> None:
        spec = self._write_spec(name)
        code = spec.values.get(command)
        if code is None:
            raise KeyError(f"profile {self.profile.id}: [write.{name}] has no value for {command!r}")
        await self.write_value(name, code, gun)
