"""The register view: the jc-ref-v1 map (spec/pile-modbus-map.md) as the pile serves it.

Turns the pile's state into the field values of each block and a read into a register
image; turns a holding write into checked field values, refusing it whole if any register
is undocumented (exception 02) or a value out of range (03). What a written value does is
the pile's business; this module holds no state.

Decided here (and documented in docs/simulator.md): the command register reads 0, and the
holding power_limit reads back what was written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import IntEnum

from ..registers import (
    NA16,
    PILE_HOLDING_DEVICE,
    PILE_HOLDING_GUN,
    PILE_MAP_VERSION,
    Field,
    pile_blocks,
)
from .gun import Gun
from .limits import Watchdog
from .sessions import COMMAND_VALUES
from .spec import PileSpec

_MAX_U16 = 0xFFFF
_MAX_U32 = 0xFFFFFFFF

FieldValues = dict[str, int | str]
# (gun number, 0 for the device block) -> that block's field values
BlockValues = Callable[[int], Mapping[str, int | str]]
# A checked holding write: (gun number or 0, field name, value), in the order to apply
HoldingWrite = list[tuple[int, str, int]]


class WriteError(IntEnum):
    """Modbus exception codes a refused write is answered with."""

    ILLEGAL_ADDRESS = 2
    ILLEGAL_VALUE = 3


# --- field values -----------------------------------------------------------------------------


def device_holding_values(watchdog: Watchdog) -> FieldValues:
    return {
        "watchdog_s": watchdog.period_s,
        "fallback_power": watchdog.fallback_power_w,
        "heartbeat": watchdog.heartbeat,
    }


def gun_holding_values(gun: Gun) -> FieldValues:
    return {
        "command": 0,  # the spec: the command register reads 0
        "power_limit": gun.power_limit_w,
        "session_tag": gun.session_tag_reg,
        "energy_limit": gun.energy_limit_wh,
        "time_limit": gun.time_limit_s,
    }


def device_input_values(spec: PileSpec, uptime_s: float, heartbeat: int) -> FieldValues:
    major, minor, build = spec.firmware
    return {
        "map_version": PILE_MAP_VERSION,
        "gun_count": spec.guns,
        "kind": 2 if spec.dc else 1,
        "phases": 0 if spec.dc else spec.phases,
        "rated_power": spec.rated_power_w,
        "max_current": NA16 if spec.dc else round(spec.max_current_a * 10),
        "min_current": NA16 if spec.dc else round(spec.min_current_a * 10),
        "serial": spec.serial,
        "firmware": ((major * 256 + minor) << 16) | (build & _MAX_U16),
        "uptime_min": int(max(0.0, uptime_s) // 60) & _MAX_U16,
        "heartbeat_echo": heartbeat,
    }


def gun_input_values(spec: PileSpec, gun: Gun) -> FieldValues:
    values: FieldValues = {
        "state": int(gun.state),
        "faults": gun.faults,
        "active_power": round(gun.power_w),
        "energy_total": min(int(gun.energy_total_wh), _MAX_U32),
        "session_energy": min(int(gun.session_energy_wh), _MAX_U32),
        "session_seconds": min(int(gun.session_seconds), _MAX_U32),
        "session_counter": gun.session_counter,
        "temperature": round(gun.temperature_c * 10),
        "soc": round(gun.ev.soc) if spec.dc and gun.ev is not None else NA16,
        "power_limit_active": gun.limit_active_w,
        "last_cmd_result": int(gun.last_cmd_result),
        "stop_reason": int(gun.stop_reason),
        "session_tag": gun.session_tag,
    }
    used = 1 if spec.dc or spec.phases == 1 else 3
    for i in range(3):
        n = i + 1
        if i < used:
            values[f"voltage_l{n}"] = min(round(gun.voltages_v[i] * 10), NA16 - 1)
            values[f"current_l{n}"] = min(round(gun.currents_a[i] * 100), NA16 - 1)
        else:  # not applicable: DC, or a single-phase pile
            values[f"voltage_l{n}"] = NA16
            values[f"current_l{n}"] = NA16
    return values


# --- reads and writes -------------------------------------------------------------------------


def read_registers(
    table: str, address: int, count: int, gun_count: int, values: BlockValues
) -> list[int]:
    """`count` registers of `table` from `address`; addresses in no block read 0."""
    out = [0] * count
    for base, layout in pile_blocks(table, gun_count):
        lo, hi = max(address, base), min(address + count, base + layout.span)
        if lo >= hi:
            continue
        image = layout.encode(values(base // 100))
        out[lo - address : hi - address] = image[lo - base : hi - base]
    return out


def decode_holding_write(
    address: int, registers: list[int], gun_count: int, current: BlockValues
) -> HoldingWrite | WriteError:
    """The fields a write of `registers` from `address` sets. A register of a multi-register
    field left out of the write keeps its `current` value, so half of a 32-bit value can be
    written on its own."""
    staged: dict[tuple[int, str], list[int]] = {}  # (gun 0 = device, field) -> registers
    for i, value in enumerate(registers):
        located = locate_holding(address + i, gun_count)
        if located is None:
            return WriteError.ILLEGAL_ADDRESS
        gun_no, fld, word = located
        key = (gun_no, fld.name)
        if key not in staged:
            staged[key] = fld.encode(current(gun_no)[fld.name])
        staged[key][word] = value & 0xFFFF
    decoded = {key: _holding_field(key).decode(regs) for key, regs in staged.items()}
    for (_gun_no, name), value in decoded.items():
        if name == "command" and value not in COMMAND_VALUES:
            return WriteError.ILLEGAL_VALUE
    return [(gun_no, name, int(value)) for (gun_no, name), value in sorted(decoded.items())]


def locate_holding(address: int, gun_count: int) -> tuple[int, Field, int] | None:
    """(gun number or 0, writable field, word within it) at `address`, or None."""
    if address < 100:
        layout, gun_no, offset = PILE_HOLDING_DEVICE, 0, address
    else:
        gun_no, offset = divmod(address, 100)
        if not 1 <= gun_no <= gun_count:
            return None
        layout = PILE_HOLDING_GUN
    found = layout.at(offset)
    if found is None or not found[0].writable:
        return None
    return gun_no, found[0], found[1]


def _holding_field(key: tuple[int, str]) -> Field:
    gun_no, name = key
    return (PILE_HOLDING_GUN if gun_no else PILE_HOLDING_DEVICE).field(name)
