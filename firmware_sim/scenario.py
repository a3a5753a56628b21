"""Scenarios: TOML files describing a station and its day, loaded and validated here.

A scenario names its piles, meter and transformer, the base load over the day, the EVs
that arrive and leave, and the events (faults, link cuts, slow or garbled replies, ...).
Every problem is reported with the file, the table and key, and what to write instead.
The format is documented in docs/simulator.md; shipped scenarios live in scenarios/.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .ev import EVSpec
from .linkfaults import TRANSPORTS, LinkFaults
from .meter import MeterSpec
from .pile import FAULT_BITS, PileSpec, Timing
from .registers import PILE_HOLDING_GUN, PILE_INPUT_DEVICE, PILE_INPUT_GUN, meter_field_names

DAY_S = 86_400.0


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message says where and how to fix it."""


@dataclass(frozen=True)
class BaseLoad:
    """Active power (kW) of everything but the piles, over the day; linear between points,
    wrapping around midnight."""

    points: tuple[tuple[float, float], ...]  # (seconds of day, kW), sorted

    def kw_at(self, seconds_of_day: float) -> float:
        pts = self.points
        if len(pts) == 1:
            return pts[0][1]
        t = seconds_of_day % DAY_S
        for (t0, p0), (t1, p1) in zip(pts, pts[1:], strict=False):
            if t0 <= t <= t1:
                return p0 + (p1 - p0) * (t - t0) / (t1 - t0) if t1 > t0 else p1
        # across midnight: from the last point to the first one of the next day
        t0, p0 = pts[-1]
        t1, p1 = pts[0][0] + DAY_S, pts[0][1]
        tt = t if t >= t0 else t + DAY_S
        return p0 + (p1 - p0) * (tt - t0) / (t1 - t0)


@dataclass(frozen=True)
class EVPlan:
    unit: int
    gun: int
    spec: EVSpec
    plug_in_s: float  # simulated seconds since the scenario started
    unplug_s: float | None
    local_start: bool


@dataclass(frozen=True)
class Event:
    at_s: float
    action: str
    params: Mapping[str, Any]
    until_s: float | None
    where: str


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    source: str
    start_time_s: float
    speed: float
    seed: int
    autostart: bool
    timing: Timing
    nominal_voltage_v: float
    frequency_hz: float
    voltage_noise_pct: float
    meter: MeterSpec
    piles: tuple[PileSpec, ...]
    base_load: BaseLoad
    evs: tuple[EVPlan, ...]
    events: tuple[Event, ...]
    link_faults: Mapping[str, LinkFaults] = field(default_factory=dict)
    baud: int = 9600
    turnaround_ms: float = 5.0

    def pile(self, unit: int) -> PileSpec | None:
        return next((p for p in self.piles if p.unit == unit), None)

    def devices(self) -> list[dict[str, Any]]:
        return [p.summary() for p in self.piles] + [self.meter.summary()]


# --- event actions: required keys, optional keys, and whether `until` may be given ---------

_UNIT_GUN = ("unit", "gun")
ACTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...], bool]] = {
    "fault": (("unit", "fault"), ("gun",), True),
    "clear_fault": (("unit", "fault"), ("gun",), False),
    "reset": (("unit",), ("gun",), False),
    "link_cut": (("unit",), (), True),
    "link_restore": (("unit",), (), False),
    "power_cut": (("unit",), (), True),
    "power_restore": (("unit",), (), False),
    "slow": (("delay_ms",), ("unit", "transport"), True),
    "garble": (("rate",), ("unit", "transport"), True),
    "inject": ((), ("unit", "transport", *LinkFaults.__dataclass_fields__), True),
    "base_load": (("kw",), (), True),
    "meter": ((), ("residual_current_ma", "temperature_c", "power_factor"), True),
    "button": (_UNIT_GUN, (), False),
    "card": (_UNIT_GUN, (), False),
    "unavailable": (_UNIT_GUN, (), True),
    "available": (_UNIT_GUN, (), False),
    "suspend": (_UNIT_GUN, (), True),
    "resume": (_UNIT_GUN, (), False),
    "absurd": (("unit", "field"), ("gun", "value", "delta", "table"), True),
}


# --- loading ---------------------------------------------------------------------------------


def shipped_dir() -> Path:
    return Path(str(resources.files("firmware_sim") / "scenarios"))


def shipped_names() -> list[str]:
    return sorted(p.stem for p in shipped_dir().glob("*.toml"))


def resolve(name_or_path: str) -> Path:
    """A file path, or the name of a shipped scenario ("demo", "test", "bench32")."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = shipped_dir() / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    raise ScenarioError(
        f"no scenario {name_or_path!r}: give a path to a .toml file or one of the shipped "
        f"scenarios: {', '.join(shipped_names())}"
    )


def load(name_or_path: str) -> Scenario:
    path = resolve(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    return parse(data, source=str(path), default_name=path.stem)


class _Table:
    """One TOML table being read: every getter names the key and the fix on error."""

    def __init__(self, data: Any, where: str, known: Iterable[str], src: str) -> None:
        self.src, self.where = src, where
        if not isinstance(data, dict):
            self.fail(None, "must be a table")
        self.data: dict[str, Any] = data
        known = set(known)
        for key in data:
            if key not in known:
                self.fail(key, f"unknown key; known keys here: {', '.join(sorted(known))}")

    def fail(self, key: str | None, message: str) -> None:
        at = f"{self.where}.{key}" if key else self.where
        raise ScenarioError(f"{self.src}: {at}: {message}")

    def has(self, key: str) -> bool:
        return key in self.data

    def number(self, key: str, default: float | None = None, lo: float | None = None,
               hi: float | None = None, integer: bool = False, unit: str = "") -> Any:
        if key not in self.data:
            if default is None:
                self.fail(key, f"missing; give a number{f' ({unit})' if unit else ''}")
            return default
        value = self.data[key]
        kind = int if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind):
            self.fail(key, f"must be {'an integer' if integer else 'a number'}"
                           f"{f' ({unit})' if unit else ''}, got {value!r}")
        if lo is not None and value < lo or hi is not None and value > hi:
            bounds = f"{lo if lo is not None else '-inf'}..{hi if hi is not None else 'inf'}"
            self.fail(key, f"must be within {bounds}{f' {unit}' if unit else ''}, got {value!r}")
        return value

    def text(self, key: str, default: str | None = None,
             choices: Iterable[str] | None = None) -> str:
        if key not in self.data:
            if default is None:
                self.fail(key, "missing; give a string")
            return default  # type: ignore[return-value]
        value = self.data[key]
        if not isinstance(value, str):
            self.fail(key, f"must be a string, got {value!r}")
        if choices is not None and value not in choices:
            self.fail(key, f"must be one of {', '.join(map(repr, choices))}, got {value!r}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, got {value!r}")
        return value

    def when(self, key: str) -> tuple[str, float] | None:
        """("tod", seconds of day) or ("rel", seconds); None when absent."""
        if key not in self.data:
            return None
        value = self.data[key]
        if isinstance(value, dt.time):
            return "tod", value.hour * 3600 + value.minute * 60 + value.second
        if isinstance(value, str):
            m = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", value.strip())
            if m and int(m[1]) < 24 and int(m[2]) < 60 and int(m[3] or 0) < 60:
                return "tod", int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3] or 0)
            m = re.fullmatch(r"\+(\d+(?:\.\d+)?)(s|m|h)", value.strip())
            if m:
                return "rel", float(m[1]) * {"s": 1, "m": 60, "h": 3600}[m[2]]
        self.fail(key, f"give a time of day \"HH:MM[:SS]\" or an offset \"+90s\"/\"+15m\"/"
                       f"\"+2h\", got {value!r}")
        return None  # unreachable


def _resolve_at(when: tuple[str, float], start_tod: float) -> float:
    kind, value = when
    return value if kind == "rel" else (value - start_tod) % DAY_S


def _resolve_until(when: tuple[str, float], start_tod: float, after: float) -> float:
    """A time after `after`: an offset counts from it, a time of day is its next occurrence."""
    kind, value = when
    if kind == "rel":
        return after + value
    t = (value - start_tod) % DAY_S
    while t <= after:
        t += DAY_S
    return t


_PILE_KEYS = (
    "unit", "id", "current", "guns", "rated_power_w", "phases", "max_current_a",
    "min_current_a", "supply_phase", "max_total_power_w", "serial", "firmware",
    "standby_w", "efficiency", "fallback_stop_after_s", "count",
)
_EV_PLAN_KEYS = ("unit", "gun", "plug_in", "unplug", "local_start", "all_guns", "stagger")


def parse(data: Mapping[str, Any], source: str = "<scenario>",
          default_name: str = "scenario") -> Scenario:
    src = source
    top = _Table(dict(data), "scenario file", (
        "scenario", "timing", "grid", "transformer", "meter", "rtu", "link_faults",
        "base_load", "pile", "ev", "event",
    ), src)

    head = _Table(data.get("scenario", {}), "[scenario]", (
        "name", "description", "start_time", "speed", "seed", "autostart"), src)
    start = head.when("start_time") or ("tod", 0.0)
    if start[0] != "tod":
        head.fail("start_time", "must be a time of day such as \"06:00\"")
    start_tod = start[1]

    timing_t = _Table(data.get("timing", {}), "[timing]", ("start_delay_s", "limit_delay_s"), src)
    timing = Timing(
        start_delay_s=timing_t.number("start_delay_s", 1.0, 0.0, 2.0, unit="s (the spec: within 2 s)"),
        limit_delay_s=timing_t.number("limit_delay_s", 0.5, 0.0, 1.0, unit="s (the spec: within 1 s)"),
    )

    grid_t = _Table(data.get("grid", {}), "[grid]", (
        "nominal_voltage_v", "frequency_hz", "voltage_noise_pct", "power_factor"), src)
    transformer = _Table(data.get("transformer", {}), "[transformer]", ("rated_kva",), src)
    meter_t = _Table(data.get("meter", {}), "[meter]", (
        "unit", "residual_current_ma", "temperature_c"), src)
    meter = MeterSpec(
        unit=meter_t.number("unit", 10, 1, 247, integer=True),
        rated_kva=transformer.number("rated_kva", 160.0, 1.0, 100_000.0, unit="kVA"),
        power_factor=grid_t.number("power_factor", 0.95, 0.05, 1.0),
        residual_current_ma=meter_t.number("residual_current_ma", 8.0, 0.0, 65534.0, unit="mA"),
        temperature_c=meter_t.number("temperature_c", 32.0, -40.0, 200.0, unit="degC"),
    )

    rtu_t = _Table(data.get("rtu", {}), "[rtu]", ("baud", "turnaround_ms"), src)
    faults_t = _Table(data.get("link_faults", {}), "[link_faults]", TRANSPORTS, src)
    link_faults = {}
    for transport in TRANSPORTS:
        raw = faults_t.data.get(transport, {})
        try:
            link_faults[transport] = LinkFaults.from_mapping(raw, f"[link_faults.{transport}]")
        except Exception as exc:  # SimError from the shared validator
            raise ScenarioError(f"{src}: {exc}") from None

    piles = _parse_piles(data.get("pile", []), src)
    units = {p.unit for p in piles}
    if meter.unit in units:
        meter_t.fail("unit", f"unit {meter.unit} is also a pile's unit; give the meter its own "
                             "unit id (e.g. 10, or 100 when piles use 1..16)")

    base_load = _parse_base_load(data.get("base_load", {}), src)
    evs = _parse_evs(data.get("ev", []), piles, start_tod, src)
    events = _parse_events(data.get("event", []), piles, meter.unit, start_tod, src)
    _ = top
    return Scenario(
        name=head.text("name", default_name),
        description=head.text("description", ""),
        source=source,
        start_time_s=start_tod,
        speed=head.number("speed", 1.0, 0.001, 100_000.0),
        seed=head.number("seed", 1, integer=True),
        autostart=head.flag("autostart", False),
        timing=timing,
        nominal_voltage_v=grid_t.number("nominal_voltage_v", 230.0, 50.0, 1000.0, unit="V"),
        frequency_hz=grid_t.number("frequency_hz", 50.0, 40.0, 70.0, unit="Hz"),
        voltage_noise_pct=grid_t.number("voltage_noise_pct", 0.3, 0.0, 10.0, unit="%"),
        meter=meter,
        piles=tuple(piles),
        base_load=base_load,
        evs=tuple(evs),
        events=tuple(events),
        link_faults=link_faults,
        baud=rtu_t.number("baud", 9600, 300, 1_000_000, integer=True, unit="baud"),
        turnaround_ms=rtu_t.number("turnaround_ms", 5.0, 0.0, 1000.0, unit="ms"),
    )


def _parse_piles(raw: Any, src: str) -> list[PileSpec]:
    if not isinstance(raw, list) or not raw:
        raise ScenarioError(f"{src}: [[pile]]: a scenario needs at least one [[pile]] table")
    piles: list[PileSpec] = []
    seen: dict[int, str] = {}
    for i, item in enumerate(raw, start=1):
        t = _Table(item, f"[[pile]] #{i}", _PILE_KEYS, src)
        current = t.text("current", choices=("AC", "DC"))
        guns = t.number("guns", 1, 1, 2, integer=True)
        phases_default = 0 if current == "DC" else 1
        phases = t.number("phases", phases_default, integer=True)
        if current == "AC" and phases not in (1, 3):
            t.fail("phases", "an AC pile has 1 or 3 phases")
        if current == "DC" and phases != 0:
            t.fail("phases", "a DC pile has phases = 0 (or leave it out)")
        firmware = t.text("firmware", "1.0.0")
        fw = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", firmware)
        if not fw or int(fw[1]) > 255 or int(fw[2]) > 255 or int(fw[3]) > 65535:
            t.fail("firmware", "write \"major.minor.build\", e.g. \"1.2.345\" (major, minor <= 255)")
        count = t.number("count", 1, 1, 200, integer=True)
        first_unit = t.number("unit", None, 1, 247, integer=True)
        base_id = t.text("id", f"{current}{first_unit}")
        serial = t.text("serial", "")
        if len(serial) > 16 or not serial.isascii():
            t.fail("serial", "at most 16 ASCII characters")
        max_total = t.number("max_total_power_w", 0, 0, integer=True, unit="W")
        for k in range(count):
            unit = first_unit + k
            if unit > 247:
                t.fail("count", f"units run past 247 (unit {first_unit} + count {count})")
            if unit in seen:
                t.fail("unit", f"unit {unit} is already used by {seen[unit]}; units must differ")
            pile_id = base_id if count == 1 else f"{base_id}{k + 1:02d}"
            seen[unit] = pile_id
            suffix = f"{unit:03d}"
            piles.append(
                PileSpec(
                    unit=unit,
                    id=pile_id,
                    current=current,
                    guns=guns,
                    rated_power_w=t.number("rated_power_w", None, 1000, 1_000_000, integer=True,
                                           unit="W per gun"),
                    phases=phases,
                    max_current_a=t.number("max_current_a", 32.0 if current == "AC" else 250.0,
                                           1.0, 1000.0, unit="A"),
                    min_current_a=t.number("min_current_a", 6.0, 0.0, 100.0, unit="A"),
                    supply_phase=t.number("supply_phase", 1, 1, 3, integer=True),
                    max_total_power_w=max_total or None,
                    serial=(serial[: 16 - len(suffix)] + suffix if count > 1 and serial
                            else serial or f"JCSIM{current}{suffix}"),
                    firmware=(int(fw[1]), int(fw[2]), int(fw[3])),  # type: ignore[index]
                    standby_w=t.number("standby_w", 10.0 if current == "AC" else 80.0, 0.0,
                                       10_000.0, unit="W"),
                    efficiency=t.number("efficiency", 1.0 if current == "AC" else 0.95, 0.5, 1.0),
                    fallback_stop_after_s=t.number("fallback_stop_after_s", 0.0, 0.0, unit="s"),
                )
            )
    return piles


def _parse_base_load(raw: Any, src: str) -> BaseLoad:
    t = _Table(raw, "[base_load]", ("points", "kw"), src)
    if t.has("kw") and t.has("points"):
        t.fail("kw", "give either a constant kw or a list of points, not both")
    if t.has("kw"):
        return BaseLoad(((0.0, float(t.number("kw", None, 0.0, unit="kW"))),))
    points = t.data.get("points", [[0, 0.0]] if not t.has("points") else None)
    if not isinstance(points, list) or not points:
        t.fail("points", "give a list of [\"HH:MM\", kW] pairs, e.g. [[\"00:00\", 20], [\"18:00\", 60]]")
    parsed: list[tuple[float, float]] = []
    for i, point in enumerate(points):
        if (not isinstance(point, list) or len(point) != 2 or isinstance(point[1], bool)
                or not isinstance(point[1], int | float) or point[1] < 0):
            t.fail("points", f"point #{i + 1} must be [\"HH:MM\", kW >= 0], got {point!r}")
        when = point[0]
        if isinstance(when, int) and when == 0:
            when = "00:00"
        probe = _Table({"at": when}, f"[base_load].points #{i + 1}", ("at",), src).when("at")
        if probe is None or probe[0] != "tod":
            t.fail("points", f"point #{i + 1}: the time must be a time of day \"HH:MM\"")
        parsed.append((probe[1], float(point[1])))  # type: ignore[index]
    parsed.sort()
    if len({p[0] for p in parsed}) != len(parsed):
        t.fail("points", "two points share the same time of day")
    return BaseLoad(tuple(parsed))


def _parse_evs(raw: Any, piles: list[PileSpec], start_tod: float, src: str) -> list[EVPlan]:
    if not isinstance(raw, list):
        raise ScenarioError(f"{src}: [[ev]]: must be an array of tables")
    by_unit = {p.unit: p for p in piles}
    plans: list[EVPlan] = []
    for i, item in enumerate(raw, start=1):
        where = f"[[ev]] #{i}"
        if not isinstance(item, dict):
            raise ScenarioError(f"{src}: {where}: must be a table")
        ev_keys = set(EVSpec.__dataclass_fields__)
        t = _Table(item, where, (*_EV_PLAN_KEYS, *ev_keys), src)
        try:
            spec = EVSpec.from_mapping({k: v for k, v in item.items() if k in ev_keys}, where)
        except ValueError as exc:
            raise ScenarioError(f"{src}: {exc}") from None
        plug = t.when("plug_in")
        if plug is None:
            t.fail("plug_in", "missing; give a time of day \"HH:MM\" or an offset \"+10m\"")
        plug_s = _resolve_at(plug, start_tod)  # type: ignore[arg-type]
        stagger = t.when("stagger")
        if stagger is not None and stagger[0] != "rel":
            t.fail("stagger", "must be an offset such as \"+30s\"")
        targets: list[tuple[int, int]]
        if t.flag("all_guns", False):
            if t.has("unit") or t.has("gun"):
                t.fail("all_guns", "give either all_guns = true or unit/gun, not both")
            targets = [(p.unit, g) for p in piles for g in range(1, p.guns + 1)]
        else:
            unit = t.number("unit", None, 1, 247, integer=True)
            if unit not in by_unit:
                t.fail("unit", f"no pile has unit {unit}; pile units: {sorted(by_unit)}")
            gun = t.number("gun", 1, 1, 2, integer=True)
            if gun > by_unit[unit].guns:
                t.fail("gun", f"pile {unit} has {by_unit[unit].guns} gun(s)")
            targets = [(unit, gun)]
        unplug = t.when("unplug")
        for k, (unit, gun) in enumerate(targets):
            at = plug_s + k * (stagger[1] if stagger else 0.0)
            until = _resolve_until(unplug, start_tod, at) if unplug else None
            name = spec.name if len(targets) == 1 else f"{spec.name}-{k + 1}"
            plans.append(EVPlan(unit, gun, EVSpec(**{**spec.to_dict(), "name": name}), at,
                                until, t.flag("local_start", False)))
    # One EV per gun at a time: a scenario with overlapping visits is a mistake.
    for a_i, a in enumerate(plans):
        for b in plans[a_i + 1:]:
            if (a.unit, a.gun) != (b.unit, b.gun):
                continue
            a_end = a.unplug_s if a.unplug_s is not None else float("inf")
            b_end = b.unplug_s if b.unplug_s is not None else float("inf")
            if a.plug_in_s < b_end and b.plug_in_s < a_end:
                raise ScenarioError(
                    f"{src}: [[ev]] {a.spec.name!r} and {b.spec.name!r} are both plugged into "
                    f"pile {a.unit} gun {a.gun} at the same time; give the first an unplug "
                    "time before the second's plug_in"
                )
    return plans


def _parse_events(raw: Any, piles: list[PileSpec], meter_unit: int, start_tod: float,
                  src: str) -> list[Event]:
    if not isinstance(raw, list):
        raise ScenarioError(f"{src}: [[event]]: must be an array of tables")
    by_unit = {p.unit: p for p in piles}
    events: list[Event] = []
    for i, item in enumerate(raw, start=1):
        where = f"[[event]] #{i}"
        if not isinstance(item, dict):
            raise ScenarioError(f"{src}: {where}: must be a table")
        action = item.get("action")
        if action not in ACTIONS:
            raise ScenarioError(
                f"{src}: {where}.action: give one of {', '.join(ACTIONS)}, got {action!r}")
        required, optional, can_until = ACTIONS[action]
        known = ("at", "action", *required, *optional, *(("until",) if can_until else ()))
        t = _Table(item, f"{where} ({action})", known, src)
        for key in required:
            if key not in item:
                t.fail(key, f"missing; the {action!r} action needs {', '.join(required)}")
        at = t.when("at")
        if at is None:
            t.fail("at", "missing; give a time of day \"HH:MM\" or an offset \"+10m\"")
        at_s = _resolve_at(at, start_tod)  # type: ignore[arg-type]
        until = t.when("until")
        until_s = _resolve_until(until, start_tod, at_s) if until else None
        params = {k: v for k, v in item.items() if k not in ("at", "action", "until")}
        _check_event_params(t, action, params, by_unit, meter_unit)
        events.append(Event(at_s, action, params, until_s, where))
    events.sort(key=lambda e: e.at_s)
    return events


def _check_event_params(t: _Table, action: str, params: dict[str, Any],
                        by_unit: dict[int, PileSpec], meter_unit: int) -> None:
    unit = params.get("unit")
    if unit is not None:
        t.number("unit", None, 1, 247, integer=True)
        link_actions = ("link_cut", "link_restore", "slow", "garble", "inject", "absurd")
        if unit not in by_unit and not (unit == meter_unit and action in link_actions):
            t.fail("unit", f"no pile has unit {unit}; pile units: {sorted(by_unit)}"
                           + (f", meter: {meter_unit}" if action in link_actions else ""))
    if "gun" in params:
        gun = t.number("gun", None, 1, 2, integer=True)
        if unit in by_unit and gun > by_unit[unit].guns:
            t.fail("gun", f"pile {unit} has {by_unit[unit].guns} gun(s)")
    if "fault" in params and params["fault"] not in FAULT_BITS:
        t.fail("fault", f"unknown fault; known: {', '.join(FAULT_BITS)}")
    if "transport" in params:
        t.text("transport", choices=("rtu", "tcp", "all"))
    if action == "slow":
        t.number("delay_ms", None, 0.0, 60_000.0, unit="ms")
    if action == "garble":
        t.number("rate", None, 0.0, 1.0)
    if action == "inject":
        faults = {k: v for k, v in params.items() if k not in ("unit", "transport")}
        try:
            LinkFaults.from_mapping(faults, t.where)
        except Exception as exc:
            raise ScenarioError(f"{t.src}: {exc}") from None
    if action == "base_load":
        t.number("kw", None, 0.0, unit="kW")
    if action == "meter":
        if not params:
            t.fail(None, "give residual_current_ma, temperature_c and/or power_factor")
        t.number("residual_current_ma", 0.0, 0.0, 65534.0, unit="mA")
        t.number("temperature_c", 0.0, -40.0, 300.0, unit="degC")
        t.number("power_factor", 0.9, 0.05, 1.0)
    if action == "absurd":
        _check_absurd(t, params, by_unit)


def _check_absurd(t: _Table, params: dict[str, Any], by_unit: dict[int, PileSpec]) -> None:
    if ("value" in params) == ("delta" in params):
        t.fail("value", "give exactly one of value (a raw register value) or delta")
    t.number("value" if "value" in params else "delta", None, integer=True)
    name = t.text("field")
    if params["unit"] in by_unit:
        table = t.text("table", "input", choices=("input", "holding"))
        if table == "input":
            layout = PILE_INPUT_GUN if "gun" in params else PILE_INPUT_DEVICE
        else:
            layout = PILE_HOLDING_GUN if "gun" in params else None
        names = [f.name for f in layout.fields] if layout else ["watchdog_s", "fallback_power",
                                                                "heartbeat"]
        if name not in names:
            t.fail("field", f"no such {table} field here; known: {', '.join(names)}")
    elif name not in meter_field_names():
        t.fail("field", f"no such meter field; known: {', '.join(meter_field_names())}")
