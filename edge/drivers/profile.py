"""Device profiles: a pile's or meter's register map as data (TOML), checked at load.

A profile lists named reads (function code, address, type, scale, …), command registers and
code tables. One table of data types (`TYPES`) says what each type occupies and how it
decodes; every problem found names the file, the key and what to write instead, so that an
installer adding a vendor's map can fix it without reading code.
"""

from __future__ import annotations

import difflib
import math
import struct
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.gunstate import GunState, StopReason

PROFILE_DIR = Path(__file__).with_name("profiles")


@dataclass(frozen=True)
class DataType:
    name: str
    registers: int  # 0: given by the read's `length`
    signed: bool
    kind: str  # "int", "float", "string", "bits"
    na_default: str  # "all_ones" or "none": how "not available" is encoded


TYPES: dict[str, DataType] = {
    t.name: t
    for t in (
        DataType("u16", 1, False, "int", "all_ones"),
        DataType("s16", 1, True, "int", "none"),
        DataType("u32", 2, False, "int", "all_ones"),
        DataType("s32", 2, True, "int", "none"),
        DataType("u64", 4, False, "int", "all_ones"),
        DataType("s64", 4, True, "int", "none"),
        DataType("f32", 2, True, "float", "none"),
        DataType("f64", 4, True, "float", "none"),
        DataType("bits", 1, False, "bits", "none"),
        DataType("string", 0, False, "string", "none"),
    )
}
SCOPES = ("device", "gun")
POLL_CLASSES = ("fast", "cycle", "slow", "once")
READ_FUNCTIONS = (3, 4)
KINDS = ("pile", "meter")

# Reads the drivers need, by profile kind: without them a profile cannot work.
REQUIRED_READS = {
    "pile": ("gun_count", "rated_power_w", "state", "power_w", "energy_total_wh"),
    "meter": ("s_total_va",),
}
REQUIRED_WRITES = {"pile": ("command", "power_limit_w"), "meter": ()}
REQUIRED_COMMANDS = ("start", "stop")
# What the canonical code tables may map to.
MAP_TARGETS: dict[str, set[str]] = {
    "state": {s.value for s in GunState},
    "stop_reason": {s.value for s in StopReason} | {"none", "fallback"},
    "command_result": {
        "none",
        "accepted",
        "not_plugged",
        "faulted",
        "busy",
        "reserved",
        "unavailable",
    },
}


class ProfileError(ValueError):
    """A profile file is wrong; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class ReadSpec:
    name: str
    scope: str
    function: int
    address: int
    type: str
    registers: int
    scale: float = 1.0
    unit: str | None = None
    poll: str = "cycle"
    range: tuple[float, float] | None = None
    map: str | None = None
    na: str = "all_ones"
    monotonic: bool = False
    pt: bool = False
    ct: bool = False

    @property
    def dtype(self) -> DataType:
        return TYPES[self.type]


@dataclass(frozen=True)
class WriteSpec:
    name: str
    scope: str
    address: int
    type: str
    registers: int
    unit: str | None = None
    values: dict[str, int] = field(default_factory=dict)
    range: tuple[int, int] | None = None


@dataclass(frozen=True)
class GunLayout:
    count_from: str | None
    count: int | None
    base: int
    stride: int

    def offset(self, gun: int) -> int:
        return self.base + self.stride * gun


@dataclass(frozen=True)
class Profile:
    id: str
    kind: str
    vendor: str
    model: str
    description: str
    word_order: str
    byte_order: str
    max_block: int
    max_gap: int
    write_function: int | None
    guns: GunLayout | None
    identify: dict[str, tuple[int | str, ...]]
    reads: tuple[ReadSpec, ...]
    writes: dict[str, WriteSpec]
    maps: dict[str, dict[int, str]]
    options: dict[str, Any]
    source: str

    def read(self, name: str) -> ReadSpec | None:
        for r in self.reads:
            if r.name == name:
                return r
        return None

    def reads_for(self, scope: str, polls: tuple[str, ...]) -> list[ReadSpec]:
        return [r for r in self.reads if r.scope == scope and r.poll in polls]


# ---- loading -------------------------------------------------------------------------


def shipped_profiles() -> list[Path]:
    return sorted(PROFILE_DIR.glob("*.toml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a shipped profile by id (e.g. "jc-ref-v1") or a profile file by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml" and not path.exists():
        path = PROFILE_DIR / f"{name_or_path}.toml"
        if not path.exists():
            known = ", ".join(p.stem for p in shipped_profiles())
            raise ProfileError(
                f"no profile named {str(name_or_path)!r}; shipped profiles: {known} "
                f"(or give the path of a .toml profile file)"
            )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read the profile: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from exc
    return parse_profile(data, source=str(path))


class _Checker:
    """Collects the location for messages: '<file>: [[read]] #3 (name "x"): key `type` …'."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, msg: str) -> ProfileError:
        return ProfileError(f"{self.source}: {where}: {msg}" if where else f"{self.source}: {msg}")

    def keys(self, table: dict[str, Any], allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                near = difflib.get_close_matches(key, sorted(allowed), n=1)
                hint = f"; did you mean `{near[0]}`?" if near else f"; allowed keys: {', '.join(sorted(allowed))}"
                raise self.fail(where, f"unknown key `{key}`{hint}")

    def get(self, table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str,
            default: Any = ..., example: str = "") -> Any:
        if key not in table:
            if default is ...:
                ex = f", e.g. `{example}`" if example else ""
                raise self.fail(where, f"key `{key}` is missing{ex}")
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # bool is an int in Python; refuse it where a number is meant
        if isinstance(value, bool) and bool not in kinds:
            ok = False
        else:
            ok = isinstance(value, kinds)
        if not ok:
            names = " or ".join(k.__name__.replace("str", "string").replace("int", "integer")
                                .replace("float", "number").replace("bool", "true/false")
                                for k in kinds)
            ex = f", e.g. `{example}`" if example else ""
            raise self.fail(where, f"key `{key}` must be a {names}, not {value!r}{ex}")
        return value


_META_KEYS = {
    "id", "kind", "vendor", "model", "description", "word_order", "byte_order", "max_block",
    "max_gap", "write_function", "default_unit", "default_bauds", "nominal_voltage_v",
    "scale_by_pt_ct",
}
_READ_KEYS = {
    "name", "scope", "function", "address", "type", "length", "scale", "unit", "poll", "range",
    "map", "na", "monotonic", "pt", "ct",
}
_WRITE_KEYS = {"scope", "address", "type", "length", "unit", "values", "range"}


def parse_profile(data: dict[str, Any], source: str = "<profile>") -> Profile:
    c = _Checker(source)
    c.keys(data, {"meta", "guns", "identify", "read", "write", "maps"}, "")
    meta = c.get(data, "meta", dict, "", example='[meta] id = "vendor-model"')
    c.keys(meta, _META_KEYS, "[meta]")
    pid = c.get(meta, "id", str, "[meta]", example='id = "acme-ac7"')
    kind = c.get(meta, "kind", str, "[meta]", example='kind = "pile"')
    if kind not in KINDS:
        raise c.fail("[meta]", f"key `kind` is {kind!r}; write one of {', '.join(KINDS)}")
    word_order = c.get(meta, "word_order", str, "[meta]", "big")
    byte_order = c.get(meta, "byte_order", str, "[meta]", "big")
    for key, val in (("word_order", word_order), ("byte_order", byte_order)):
        if val not in ("big", "little"):
            raise c.fail("[meta]", f"key `{key}` is {val!r}; write \"big\" (high first) or \"little\"")
    max_block = c.get(meta, "max_block", int, "[meta]", 125)
    if not 1 <= max_block <= 125:
        raise c.fail("[meta]", f"key `max_block` is {max_block}; Modbus reads at most 125 registers: write 1..125")
    max_gap = c.get(meta, "max_gap", int, "[meta]", 0)
    if not 0 <= max_gap <= 16:
        raise c.fail("[meta]", f"key `max_gap` is {max_gap}; write 0..16")
    write_function = c.get(meta, "write_function", int, "[meta]", None)
    if write_function not in (None, 6, 16):
        raise c.fail("[meta]", f"key `write_function` is {write_function}; write 6 or 16 (or leave it out: 6 for one register, 16 for more)")

    maps_raw = c.get(data, "maps", dict, "", {})
    maps: dict[str, dict[int, str]] = {}
    for mname, table in maps_raw.items():
        where = f"[maps.{mname}]"
        if not isinstance(table, dict):
            raise c.fail(where, "must be a table of code = \"name\" lines, e.g. `0 = \"available\"`")
        parsed: dict[int, str] = {}
        for code, target in table.items():
            try:
                icode = int(code, 0)
            except ValueError:
                raise c.fail(where, f"code `{code}` is not a number; write e.g. `3 = \"name\"`") from None
            if not isinstance(target, str):
                raise c.fail(where, f"code {code} must map to a string name, not {target!r}")
            allowed = MAP_TARGETS.get(mname)
            if allowed is not None and target not in allowed:
                near = difflib.get_close_matches(target, sorted(allowed), n=1)
                hint = f" (did you mean \"{near[0]}\"?)" if near else ""
                raise c.fail(where, f"code {code} maps to \"{target}\"{hint}; write one of {', '.join(sorted(allowed))}")
            parsed[icode] = target
        maps[mname] = parsed

    guns: GunLayout | None = None
    if "guns" in data:
        g = c.get(data, "guns", dict, "")
        c.keys(g, {"count_from", "count", "base", "stride"}, "[guns]")
        guns = GunLayout(
            count_from=c.get(g, "count_from", str, "[guns]", None),
            count=c.get(g, "count", int, "[guns]", None),
            base=c.get(g, "base", int, "[guns]", 0),
            stride=c.get(g, "stride", int, "[guns]", example="stride = 100"),
        )
        if guns.count_from is None and guns.count is None:
            raise c.fail("[guns]", "say how many guns: `count = 2`, or `count_from = \"gun_count\"` (a device read)")
    elif kind == "pile":
        raise c.fail("", "a pile profile needs a [guns] table: base, stride and count or count_from")

    reads: list[ReadSpec] = []
    seen: set[str] = set()
    for i, r in enumerate(c.get(data, "read", list, "", [])):
        label = f"[[read]] #{i + 1}"
        if not isinstance(r, dict):
            raise c.fail(label, "must be a table")
        if "name" in r:
            label += f" (name \"{r['name']}\")"
        c.keys(r, _READ_KEYS, label)
        name = c.get(r, "name", str, label, example='name = "power_w"')
        if name in seen:
            raise c.fail(label, f"name \"{name}\" is used twice; each read needs its own name")
        seen.add(name)
        scope = c.get(r, "scope", str, label, "device")
        if scope not in SCOPES:
            raise c.fail(label, f"key `scope` is {scope!r}; write \"device\" or \"gun\"")
        if scope == "gun" and guns is None:
            raise c.fail(label, "a gun read needs a [guns] table in the profile")
        function = c.get(r, "function", int, label, example="function = 4")
        if function not in READ_FUNCTIONS:
            raise c.fail(label, f"key `function` is {function}; write 3 (holding registers) or 4 (input registers)")
        address = c.get(r, "address", int, label, example="address = 8")
        if not 0 <= address <= 65535:
            raise c.fail(label, f"key `address` is {address}; write 0..65535 (0-based protocol address)")
        tname = c.get(r, "type", str, label, example='type = "u16"')
        if tname not in TYPES:
            near = difflib.get_close_matches(tname, list(TYPES), n=1)
            hint = f" (did you mean \"{near[0]}\"?)" if near else ""
            raise c.fail(label, f"key `type` is \"{tname}\"{hint}; write one of {', '.join(TYPES)}")
        dtype = TYPES[tname]
        nregs = dtype.registers
        if dtype.kind == "string":
            nregs = c.get(r, "length", int, label, example="length = 8")
            if not 1 <= nregs <= 64:
                raise c.fail(label, "key `length` (registers) must be 1..64")
        elif "length" in r:
            raise c.fail(label, f"key `length` applies to strings only; type \"{tname}\" takes {nregs} register(s)")
        scale = c.get(r, "scale", (int, float), label, 1)
        if not math.isfinite(scale) or scale == 0:
            raise c.fail(label, f"key `scale` is {scale}; write a non-zero number such as 0.1")
        poll = c.get(r, "poll", str, label, "once" if scope == "device" and kind == "pile" else "cycle")
        if poll not in POLL_CLASSES:
            raise c.fail(label, f"key `poll` is {poll!r}; write one of {', '.join(POLL_CLASSES)}")
        rng = c.get(r, "range", list, label, None)
        if rng is not None:
            if len(rng) != 2 or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in rng) or rng[0] > rng[1]:
                raise c.fail(label, f"key `range` is {rng!r}; write [low, high] in the read's unit, e.g. [0, 1000]")
            rng = (float(rng[0]), float(rng[1]))
        mref = c.get(r, "map", str, label, None)
        if mref is not None and mref not in maps:
            raise c.fail(label, f"key `map` names \"{mref}\", but there is no [maps.{mref}] table")
        if dtype.kind == "bits" and mref is None:
            raise c.fail(label, "a \"bits\" read needs `map` naming a table of bit = \"name\"")
        na = c.get(r, "na", str, label, dtype.na_default)
        if na not in ("all_ones", "none"):
            raise c.fail(label, f"key `na` is {na!r}; write \"all_ones\" (0xFFFF… means not available) or \"none\"")
        reads.append(
            ReadSpec(
                name=name, scope=scope, function=function, address=address, type=tname,
                registers=nregs, scale=float(scale), unit=c.get(r, "unit", str, label, None),
                poll=poll, range=rng, map=mref, na=na,
                monotonic=c.get(r, "monotonic", bool, label, False),
                pt=c.get(r, "pt", bool, label, False), ct=c.get(r, "ct", bool, label, False),
            )
        )
    _check_overlaps(c, reads)

    writes: dict[str, WriteSpec] = {}
    for wname, w in c.get(data, "write", dict, "", {}).items():
        label = f"[write.{wname}]"
        if not isinstance(w, dict):
            raise c.fail(label, "must be a table with scope, address and type")
        c.keys(w, _WRITE_KEYS, label)
        scope = c.get(w, "scope", str, label, "device")
        if scope not in SCOPES:
            raise c.fail(label, f"key `scope` is {scope!r}; write \"device\" or \"gun\"")
        address = c.get(w, "address", int, label, example="address = 1")
        tname = c.get(w, "type", str, label, example='type = "u16"')
        if tname not in TYPES or TYPES[tname].kind not in ("int",):
            raise c.fail(label, f"key `type` is \"{tname}\"; command registers take an integer type: u16, s16, u32, s32, u64, s64")
        values = c.get(w, "values", dict, label, {})
        for k, v in values.items():
            if not isinstance(v, int) or isinstance(v, bool):
                raise c.fail(label, f"values.{k} must be an integer code, not {v!r}")
        wrng = c.get(w, "range", list, label, None)
        writes[wname] = WriteSpec(
            name=wname, scope=scope, address=address, type=tname,
            registers=TYPES[tname].registers, unit=c.get(w, "unit", str, label, None),
            values=dict(values), range=tuple(wrng) if wrng else None,
        )

    identify_raw = c.get(data, "identify", dict, "", {})
    identify: dict[str, tuple[int | str, ...]] = {}
    for key, allowed in identify_raw.items():
        if not any(r.name == key for r in reads):
            raise c.fail("[identify]", f"`{key}` is not the name of a read in this profile")
        if not isinstance(allowed, list) or not allowed:
            raise c.fail("[identify]", f"`{key}` must list the allowed raw values, e.g. `{key} = [1, 2]`")
        identify[key] = tuple(allowed)

    for need in REQUIRED_READS[kind]:
        if not any(r.name == need for r in reads):
            raise c.fail("", f"a {kind} profile needs a read named \"{need}\"")
    for need in REQUIRED_WRITES[kind]:
        if need not in writes:
            raise c.fail("", f"a {kind} profile needs a [write.{need}] table")
    if kind == "pile":
        cmd = writes["command"]
        for need in REQUIRED_COMMANDS:
            if need not in cmd.values:
                raise c.fail("[write.command]", f"values needs `{need} = <code>`")
        state = next(r for r in reads if r.name == "state")
        if state.map is None:
            raise c.fail("[[read]] (name \"state\")", "needs `map = \"state\"` to translate state codes")
        if guns is not None and guns.count_from and not any(r.name == guns.count_from for r in reads):
            raise c.fail("[guns]", f"`count_from` names \"{guns.count_from}\", which is not a read")

    options = {k: meta[k] for k in ("default_unit", "default_bauds", "nominal_voltage_v", "scale_by_pt_ct") if k in meta}
    return Profile(
        id=pid, kind=kind, vendor=c.get(meta, "vendor", str, "[meta]", ""),
        model=c.get(meta, "model", str, "[meta]", ""),
        description=c.get(meta, "description", str, "[meta]", ""),
        word_order=word_order, byte_order=byte_order, max_block=max_block, max_gap=max_gap,
        write_function=write_function, guns=guns, identify=identify, reads=tuple(reads),
        writes=writes, maps=maps, options=options, source=source,
    )


def _check_overlaps(c: _Checker, reads: list[ReadSpec]) -> None:
    spans: dict[tuple[str, int], list[tuple[int, int, str]]] = {}
    for r in reads:
        spans.setdefault((r.scope, r.function), []).append((r.address, r.address + r.registers, r.name))
    for (scope, fn), items in spans.items():
        items.sort()
        for (a0, a1, n0), (b0, _b1, n1) in zip(items, items[1:], strict=False):
            if b0 < a1:
                raise c.fail(
                    f"[[read]] (name \"{n1}\")",
                    f"registers {b0}.. overlap \"{n0}\" ({a0}..{a1 - 1}) in the {scope} block of function {fn}",
                )


# ---- decoding ------------------------------------------------------------------------


def registers_to_bytes(regs: list[int], word_order: str, byte_order: str) -> bytes:
    words = list(regs) if word_order == "big" else list(reversed(regs))
    out = bytearray()
    for w in words:
        hi, lo = (w >> 8) & 0xFF, w & 0xFF
        out += bytes((hi, lo)) if byte_order == "big" else bytes((lo, hi))
    return bytes(out)


def bytes_to_registers(data: bytes, word_order: str, byte_order: str) -> list[int]:
    words = []
    for i in range(0, len(data), 2):
        a, b = data[i], data[i + 1]
        words.append((a << 8 | b) if byte_order == "big" else (b << 8 | a))
    return words if word_order == "big" else list(reversed(words))


_STRUCT = {"u16": "H", "s16": "h", "u32": "I", "s32": "i", "u64": "Q", "s64": "q", "f32": "f", "f64": "d"}


def raw_value(spec: ReadSpec, regs: list[int], profile: Profile) -> int | float | str | None:
    """The register contents as a raw number/string (before scale), or None when 'not available'."""
    dtype = spec.dtype
    if dtype.kind == "string":
        data = registers_to_bytes(regs, "big", profile.byte_order)
        return data.split(b"\x00", 1)[0].decode("ascii", errors="replace").strip()
    if dtype.kind == "bits":
        return regs[0]
    if spec.na == "all_ones" and all(r == 0xFFFF for r in regs):
        return None
    data = registers_to_bytes(regs, profile.word_order, profile.byte_order)
    return struct.unpack(">" + _STRUCT[spec.type], data)[0]


def encode_value(spec: WriteSpec, value: int, profile: Profile) -> list[int]:
    """An integer for a command register as the list of 16-bit words to write."""
    lo_ok = -(1 << (16 * spec.registers - 1)) if TYPES[spec.type].signed else 0
    hi_ok = (1 << (16 * spec.registers - (1 if TYPES[spec.type].signed else 0))) - 1
    if not lo_ok <= value <= hi_ok:
        raise ValueError(f"{spec.name}: {value} does not fit in {spec.type}")
    data = struct.pack(">" + _STRUCT[spec.type], value)
    return bytes_to_registers(data, profile.word_order, profile.byte_order)


# ---- request planning ----------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One read request: contiguous registers of one function code, and the reads inside it."""

    function: int
    address: int
    count: int
    reads: tuple[tuple[ReadSpec, int], ...]  # (spec, absolute address)


def plan_blocks(reads: list[ReadSpec], base: int, max_block: int, max_gap: int) -> list[Block]:
    """Group reads into as few requests as the device allows (contiguous, or within max_gap)."""
    blocks: list[Block] = []
    by_fn: dict[int, list[tuple[int, ReadSpec]]] = {}
    for r in reads:
        by_fn.setdefault(r.function, []).append((base + r.address, r))
    for fn in sorted(by_fn):
        items = sorted(by_fn[fn], key=lambda x: x[0])
        cur: list[tuple[ReadSpec, int]] = []
        start = end = 0
        for addr, r in items:
            stop = addr + r.registers
            if cur and addr - end <= max_gap and stop - start <= max_block:
                cur.append((r, addr))
                end = max(end, stop)
                continue
            if cur:
                blocks.append(Block(fn, start, end - start, tuple(cur)))
            cur, start, end = [(r, addr)], addr, stop
        if cur:
            blocks.append(Block(fn, start, end - start, tuple(cur)))
    return blocks
