"""`jc-gateway scan`: which unit ids answer on a line, and which profile fits each.

An installer runs it before writing the station config. A unit that answers anything —
even a Modbus exception — is there; each shipped profile's `[identify]` reads then say
what it is. A meter may sit at another baud rate than the piles (the ARCM300T's factory
setting is not documented; evcc assumes 1200), so a serial line is scanned at each baud
rate the profiles name unless one is given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from edge.drivers.bus import Bus, BusSettings
from edge.drivers.errors import BusError, DeviceRefused
from edge.drivers.meter import RegisterMapMeter
from edge.drivers.pile import RegisterMapPile
from edge.drivers.profile import Profile, load_profile, plan_blocks, raw_value, shipped_profiles
from edge.drivers.transport import ModbusTransport

log = logging.getLogger(__name__)


@dataclass
class Found:
    unit: int
    baud: int | None
    profile: str | None = None
    kind: str | None = None
    details: dict[str, object] = field(default_factory=dict)
    note: str = ""

    def describe(self) -> str:
        d = self.details
        if self.kind == "pile":
            phases = f"{d.get('phases')}-phase " if d.get("current") == "AC" else ""
            guns = d.get("guns")
            return (f"{d.get('current')} {phases}{d.get('rated_power_w')} W, {guns} gun{'s' if guns != 1 else ''}, "
                    f"serial {d.get('serial') or '?'}, firmware {d.get('firmware') or '?'}")
        if self.kind == "meter":
            s = d.get("s_total_va")
            return (f"{d.get('model')}, PT {d.get('pt_ratio')}, CT {d.get('ct_ratio')}"
                    + (f", S {int(s) / 1000:.1f} kVA" if isinstance(s, int) else ""))
        return self.note

    def as_dict(self) -> dict[str, object]:
        return {"unit": self.unit, "baud": self.baud, "profile": self.profile, "kind": self.kind,
                "details": self.details, "note": self.note}


def parse_units(spec: str) -> list[int]:
    """'1-10,20' → [1..10, 20]; every id must be a Modbus unit id 1..247."""
    units: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            raise ValueError(f"--units {spec!r}: {part!r} is not a number or a range like 1-247") from None
        if not (1 <= a <= b <= 247):
            raise ValueError(f"--units {spec!r}: {part!r} must lie within 1-247, low to high")
        units.update(range(a, b + 1))
    if not units:
        raise ValueError("--units is empty; write e.g. --units 1-247")
    return sorted(units)


async def _identify_matches(bus: Bus, unit: int, profile: Profile) -> bool:
    if not profile.identify:
        return False
    specs = [profile.read(name) for name in profile.identify]
    blocks = plan_blocks([s for s in specs if s], 0, profile.max_block, profile.max_gap)
    for block in blocks:
        try:
            regs = await bus.read(unit, block.function, block.address, block.count)
        except BusError:
            return False
        for spec, addr in block.reads:
            raw = raw_value(spec, regs[addr - block.address: addr - block.address + spec.registers], profile)
            allowed = [unit if a == "$unit" else a for a in profile.identify[spec.name]]
            if raw not in allowed:
                return False
    return True


async def _answers(bus: Bus, unit: int) -> str | None:
    """Whether anything answers at this unit: a reply or a Modbus exception both count."""
    for fn in (3, 4):
        try:
            await bus.read(unit, fn, 0, 1)
            return "answers"
        except DeviceRefused as exc:
            return f"answers (exception {exc.code:02d})"
        except BusError:
            continue
    return None


async def scan_line(make_transport: Callable[[int | None], ModbusTransport], units: Iterable[int],
                    bauds: list[int | None], profiles: list[Profile] | None = None,
                    timeout_s: float = 0.15,
                    progress: Callable[[int, int | None], None] | None = None) -> list[Found]:
    profiles = profiles if profiles is not None else [load_profile(p) for p in shipped_profiles()]
    units = list(units)
    found: dict[int, Found] = {}
    for baud in bauds:
        transport = make_transport(baud)
        bus = Bus(transport, BusSettings(timeout_s=timeout_s, retries=0, lost_after=1 << 20))
        await transport.connect()  # LinkDown: the port or host itself is the problem, say so
        try:
            for unit in units:
                if unit in found and found[unit].profile:
                    continue
                if progress:
                    progress(unit, baud)
                note = await _answers(bus, unit)
                if note is None:
                    continue
                hit = await _fit(bus, unit, baud, profiles)
                if hit.profile or unit not in found:
                    hit.note = hit.note or note
                    found[unit] = hit
        finally:
            await bus.close()
    return [found[u] for u in sorted(found)]


async def _fit(bus: Bus, unit: int, baud: int | None, profiles: list[Profile]) -> Found:
    for profile in profiles:
        if not await _identify_matches(bus, unit, profile):
            continue
        try:
            if profile.kind == "pile":
                pile = RegisterMapPile(bus, unit, profile)
                info = await pile.identify()
                return Found(unit, baud, profile.id, "pile", {
                    "current": info.current, "phases": info.phases, "guns": info.gun_count,
                    "rated_power_w": info.rated_power_w, "serial": info.serial, "firmware": info.firmware})
            meter = RegisterMapMeter(bus, unit, profile)
            minfo = await meter.identify()
            details: dict[str, object] = {"model": minfo.model, "pt_ratio": minfo.pt_ratio, "ct_ratio": minfo.ct_ratio}
            try:
                details["s_total_va"] = await meter.read_load()
            except BusError as exc:
                details["s_total_va"] = None
                details["read_error"] = str(exc)
            return Found(unit, baud, profile.id, "meter", details)
        except BusError as exc:
            log.info("unit %d matched %s but could not be read: %s", unit, profile.id, exc)
            return Found(unit, baud, profile.id, profile.kind, note=f"matches {profile.id}, read failed: {exc}")
    return Found(unit, baud, note="answers, but no shipped profile fits: add one in edge/drivers/profiles/")


def format_table(found: list[Found], serial: bool) -> str:
    if not found:
        return "no device answered"
    rows = [("UNIT", "BAUD" if serial else "", "PROFILE", "KIND", "DETAILS")]
    for f in found:
        rows.append((str(f.unit), str(f.baud or "") if serial else "", f.profile or "-", f.kind or "?",
                     f.describe()))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for r in rows:
        cells = [r[i].ljust(widths[i]) for i in range(4) if serial or i != 1]
        lines.append("  ".join(cells + [r[4]]).rstrip())
    return "\n".join(lines)
