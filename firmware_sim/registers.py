"""Register layouts as data: the jc-ref-v1 pile map and the ARCM300T meter map.

The models (pile/, meter.py) produce *field values* (raw integers, already scaled to the
register's unit); these layouts turn them into register images and back. Nothing here knows
about Modbus transports. The tables mirror spec/pile-modbus-map.md and spec/arcm300t.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

NA16 = 0xFFFF  # "unknown or not applicable", 16-bit
NA32 = 0xFFFFFFFF  # the same for 32-bit values

FIELD_TYPES = ("u16", "s16", "u32", "s32", "ascii")


@dataclass(frozen=True)
class Field:
    """One named value: `address` is absolute for device blocks, an offset for gun blocks."""

    name: str
    address: int
    type: str = "u16"
    size: int = 0  # registers; 0 = implied by the type (ascii needs an explicit size)
    writable: bool = False

    def __post_init__(self) -> None:
        if self.type not in FIELD_TYPES:
            raise ValueError(f"field {self.name}: unknown type {self.type!r}")
        if not self.size:
            implied = {"u16": 1, "s16": 1, "u32": 2, "s32": 2}.get(self.type)
            if implied is None:
                raise ValueError(f"field {self.name}: ascii fields need a size")
            object.__setattr__(self, "size", implied)

    def encode(self, value: int | str) -> list[int]:
        """Value -> registers (big-endian, high word first), wrapping like real firmware."""
        if self.type == "ascii":
            raw = str(value).encode("ascii", "replace")[: 2 * self.size]
            raw = raw.ljust(2 * self.size, b"\x00")
            return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
        number = int(value)
        if self.size == 1:
            return [number & 0xFFFF]
        number &= 0xFFFFFFFF
        return [number >> 16, number & 0xFFFF]

    def decode(self, regs: Sequence[int]) -> int | str:
        if self.type == "ascii":
            raw = b"".join(int(r).to_bytes(2, "big") for r in regs[: self.size])
            return raw.rstrip(b"\x00").decode("ascii", "replace")
        if self.size == 1:
            value = regs[0] & 0xFFFF
            return value - 0x10000 if self.type == "s16" and value >= 0x8000 else value
        value = ((regs[0] & 0xFFFF) << 16) | (regs[1] & 0xFFFF)
        return value - 0x100000000 if self.type == "s32" and value >= 0x80000000 else value


@dataclass(frozen=True)
class Layout:
    """A readable block of `span` registers starting at `base`; gaps between fields read 0."""

    name: str
    span: int
    fields: tuple[Field, ...]
    base: int = 0
    _by_name: dict[str, Field] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        used: set[int] = set()
        for f in self.fields:
            regs = set(range(f.address, f.address + f.size))
            if used & regs:
                raise ValueError(f"layout {self.name}: field {f.name} overlaps another field")
            if f.address < 0 or f.address + f.size > self.span:
                raise ValueError(f"layout {self.name}: field {f.name} is outside the block")
            used |= regs
            self._by_name[f.name] = f

    def field(self, name: str) -> Field:
        return self._by_name[name]

    def has(self, name: str) -> bool:
        return name in self._by_name

    def at(self, offset: int) -> tuple[Field, int] | None:
        """The field covering `offset` and the word index inside it, or None for a gap."""
        for f in self.fields:
            if f.address <= offset < f.address + f.size:
                return f, offset - f.address
        return None

    def encode(self, values: Mapping[str, int | str]) -> list[int]:
        """The whole block as registers; fields missing from `values` read as 0."""
        image = [0] * self.span
        for f in self.fields:
            if f.name in values:
                image[f.address : f.address + f.size] = f.encode(values[f.name])
        return image

    def decode(self, image: Sequence[int]) -> dict[str, int | str]:
        return {f.name: f.decode(image[f.address : f.address + f.size]) for f in self.fields}


# --- jc-ref-v1 pile map ---------------------------------------------------------------------

PILE_PROFILE = "jc-ref-v1"
PILE_MAP_VERSION = 1
GUN_BLOCK_STRIDE = 100  # gun g's blocks start at 100*g in both tables

PILE_INPUT_DEVICE = Layout(
    "pile input device block",
    span=20,
    fields=(
        Field("map_version", 0),
        Field("gun_count", 1),
        Field("kind", 2),
        Field("phases", 3),
        Field("rated_power", 4, "u32"),
        Field("max_current", 6),
        Field("min_current", 7),
        Field("serial", 8, "ascii", size=8),
        Field("firmware", 16, "u32"),
        Field("uptime_min", 18),
        Field("heartbeat_echo", 19),
    ),
)

# The spec reserves offsets 0..39 for a gun's input block; offsets 25..39 are not assigned
# yet and read 0, so that a gateway can read the whole block in one request.
PILE_INPUT_GUN = Layout(
    "pile input gun block",
    span=40,
    fields=(
        Field("state", 0),
        Field("faults", 1),
        Field("voltage_l1", 2),
        Field("voltage_l2", 3),
        Field("voltage_l3", 4),
        Field("current_l1", 5),
        Field("current_l2", 6),
        Field("current_l3", 7),
        Field("active_power", 8, "u32"),
        Field("energy_total", 10, "u32"),
        Field("session_energy", 12, "u32"),
        Field("session_seconds", 14, "u32"),
        Field("session_counter", 16),
        Field("temperature", 17, "s16"),
        Field("soc", 18),
        Field("power_limit_active", 19, "u32"),
        Field("last_cmd_result", 21),
        Field("stop_reason", 22),
        Field("session_tag", 23, "u32"),
    ),
)

# Holding device block 0..19 is readable as a whole (unassigned registers read 0) but only
# the documented registers accept writes.
PILE_HOLDING_DEVICE = Layout(
    "pile holding device block",
    span=20,
    fields=(
        Field("watchdog_s", 10, writable=True),
        Field("fallback_power", 11, "u32", writable=True),
        Field("heartbeat", 19, writable=True),
    ),
)

PILE_HOLDING_GUN = Layout(
    "pile holding gun block",
    span=10,
    fields=(
        Field("command", 0, writable=True),
        Field("power_limit", 1, "u32", writable=True),
        Field("session_tag", 3, "u32", writable=True),
        Field("energy_limit", 5, "u32", writable=True),
        Field("time_limit", 7, "u32", writable=True),
    ),
)


def gun_base(gun: int) -> int:
    return GUN_BLOCK_STRIDE * gun


def pile_blocks(table: str, guns: int) -> list[tuple[int, Layout]]:
    """(base address, layout) of every block of one table ("input" or "holding")."""
    if table == "input":
        device, gun = PILE_INPUT_DEVICE, PILE_INPUT_GUN
    elif table == "holding":
        device, gun = PILE_HOLDING_DEVICE, PILE_HOLDING_GUN
    else:
        raise ValueError(f"unknown table {table!r}: use 'input' or 'holding'")
    return [(0, device)] + [(gun_base(g), gun) for g in range(1, guns + 1)]


# --- ARCM300T meter map ---------------------------------------------------------------------

METER_MODEL = "ARCM300T"

# 0..69 is one readable block (the documented registers plus a few unassigned ones that
# read 0), so that a driver can read the measurement area in one request.
METER_MAIN = Layout(
    "meter measurement block",
    span=70,
    fields=(
        Field("unit_id", 0, writable=True),
        Field("baud_code", 1, writable=True),
        Field("parity_stop", 4, writable=True),
        Field("pt_ratio", 14, writable=True),
        Field("ct_ratio", 15, writable=True),
        Field("n_temperature", 16, "s16"),
        Field("ua", 20),
        Field("ub", 21),
        Field("uc", 22),
        Field("uab", 23),
        Field("ubc", 24),
        Field("uca", 25),
        Field("ia", 26),
        Field("ib", 27),
        Field("ic", 28),
        Field("pa", 30, "s32"),
        Field("pb", 32, "s32"),
        Field("pc", 34, "s32"),
        Field("p_total", 36, "s32"),
        Field("qa", 38, "s32"),
        Field("qb", 40, "s32"),
        Field("qc", 42, "s32"),
        Field("q_total", 44, "s32"),
        Field("sa", 46, "u32"),
        Field("sb", 48, "u32"),
        Field("sc", 50, "u32"),
        Field("s_total", 52, "u32"),
        Field("pfa", 54, "s16"),
        Field("pfb", 55, "s16"),
        Field("pfc", 56, "s16"),
        Field("pf_total", 57, "s16"),
        Field("di_state", 58),
        Field("frequency", 59),
        Field("combined_energy", 60, "u32"),
        Field("import_energy", 62, "u32"),
        Field("export_energy", 64, "u32"),
        Field("import_reactive_energy", 66, "u32"),
        Field("export_reactive_energy", 68, "u32"),
    ),
)
METER_TEMPERATURES = Layout(
    "meter temperature block",
    base=356,
    span=3,
    fields=(
        Field("temperature_a", 0, "s16"),
        Field("temperature_b", 1, "s16"),
        Field("temperature_c", 2, "s16"),
    ),
)
METER_RESIDUAL = Layout(
    "meter residual current", base=449, span=1, fields=(Field("residual_current", 0),)
)
METER_ALARM = Layout("meter alarm status", base=491, span=1, fields=(Field("alarm_status", 0),))

METER_BLOCKS: tuple[Layout, ...] = (METER_MAIN, METER_TEMPERATURES, METER_RESIDUAL, METER_ALARM)


def meter_field(name: str) -> tuple[int, Field]:
    """(absolute address, field) of a meter field by name."""
    for block in METER_BLOCKS:
        if block.has(name):
            f = block.field(name)
            return block.base + f.address, f
    raise KeyError(name)


def meter_field_names() -> list[str]:
    return [f.name for block in METER_BLOCKS for f in block.fields]


def pile_field(table: str, name: str, gun: int | None) -> tuple[int, Field]:
    """(absolute address, field) of a pile field; gun None = the device block."""
    device, gun_layout = (
        (PILE_INPUT_DEVICE, PILE_INPUT_GUN)
        if table == "input"
        else (PILE_HOLDING_DEVICE, PILE_HOLDING_GUN)
    )
    if gun is None:
        return device.field(name).address, device.field(name)
    return gun_base(gun) + gun_layout.field(name).address, gun_layout.field(name)
