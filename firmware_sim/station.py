"""The simulated station: piles, meter, EVs, the scenario's schedule and the link state.

Pure (no I/O): the transports and the control API call into it from the asyncio loop.
`tick()` brings everything up to the clock's present: scheduled events at their simulated
times, physics in small steps in between, protocol timers against real time.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .clock import Clock
from .errors import SimError
from .ev import EV, EVSpec
from .grid import Grid
from .linkfaults import TRANSPORTS, LinkFaults, LinkFaultTable
from .meter import Meter
from .pile import CmdResult, Pile, WriteError
from .registers import Field, meter_field, pile_field
from .scenario import DAY_S, Event, Scenario

log = logging.getLogger("firmware_sim")

# Longest physics step (simulated seconds): short enough for the DC taper and limits to
# look smooth, long enough that a day at high speed stays cheap.
MAX_STEP_S = 2.0
# The activity log (GET /log) keeps this many entries, oldest dropped first.
ACTIVITY_MAX = 20_000
ACTIVITY_KINDS = ("write", "base_load", "load", "meter_read")
S_TOTAL_ADDRESS = meter_field("s_total")[0]


@dataclass
class Override:
    """A register forced to a value (absurd values on demand); `reads_left` None = until
    cleared."""

    table: str  # piles: "input" or "holding"; the meter: "input" (its one shared block)
    address: int
    registers: list[int]
    reads_left: int | None
    label: str

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "address": self.address, "registers": self.registers,
                "reads_left": self.reads_left, "label": self.label}


class Station:
    def __init__(self, scenario: Scenario, clock: Clock) -> None:
        self.scenario = scenario
        self.clock = clock
        self.rng = random.Random(scenario.seed)
        self.grid = Grid(scenario.nominal_voltage_v, scenario.frequency_hz,
                         scenario.voltage_noise_pct)
        self.piles: dict[int, Pile] = {
            spec.unit: Pile(spec, clock, self.grid, scenario.timing, log=self._log)
            for spec in scenario.piles
        }
        self.meter = Meter(scenario.meter, self.grid, random.Random(scenario.seed + 1))
        self.links_cut: set[int] = set()
        self.link_faults = LinkFaultTable()
        for transport, faults in scenario.link_faults.items():
            self.link_faults.set(faults, transport)
        self.overrides: dict[int, list[Override]] = {}
        self.base_load_kw_override: float | None = None
        self.stats: dict[str, dict[str, int]] = {
            t: {"requests": 0, "replies": 0, "no_reply": 0, "injected": 0} for t in TRANSPORTS
        }
        self._queue: list[tuple[float, int, str, Callable[[], None]]] = []
        self._seq = itertools.count()
        # Timestamped activity for measuring a gateway (GET /log): register writes, base-load
        # steps and the meter's first reading after each step, on the clock's real time.
        self.activity: deque[dict[str, Any]] = deque(maxlen=ACTIVITY_MAX)
        self._activity_seq = 0
        self._load_step_pending = False
        self._last_sim = clock.sim()
        self._origin_sim = self._last_sim
        for plan in scenario.evs:
            self._at(plan.plug_in_s, f"EV {plan.spec.name} arrives",
                     lambda p=plan: self._plan_plug(p))
            if plan.unplug_s is not None:
                self._at(plan.unplug_s, f"EV {plan.spec.name} leaves",
                         lambda p=plan: self._plan_unplug(p))
        for event in scenario.events:
            self._at(event.at_s, f"{event.action} ({event.where})",
                     lambda e=event: self._apply_event(e))
            if event.until_s is not None:
                self._at(event.until_s, f"end of {event.action} ({event.where})",
                         lambda e=event: self._revert_event(e))
        self._update_meter(0.0)

    # --- time -----------------------------------------------------------------------------

    @property
    def sim_s(self) -> float:
        """Simulated seconds since the scenario started."""
        return self._last_sim - self._origin_sim

    def time_of_day_s(self) -> float:
        return (self.scenario.start_time_s + self.sim_s) % DAY_S

    def clock_text(self) -> str:
        t = int(self.time_of_day_s())
        day = int((self.scenario.start_time_s + self.sim_s) // DAY_S)
        return f"day {day} {t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"

    def _at(self, at_s: float, what: str, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (self._origin_sim + at_s, next(self._seq), what, action))

    def tick(self) -> None:
        """Bring the station up to the clock's present."""
        now = self.clock.sim()
        self._run_due()
        while self._last_sim < now:
            nxt = min(now, self._last_sim + MAX_STEP_S)
            if self._queue:
                nxt = min(nxt, max(self._queue[0][0], self._last_sim))
            dt = nxt - self._last_sim
            for pile in self.piles.values():
                pile.step(dt)
            self._update_meter(dt)
            self._last_sim = nxt
            if self._load_step_pending:
                # The meter's S total now follows the new base load: this is the moment the
                # load actually changed, the t0 of a gateway's reaction.
                self._load_step_pending = False
                self._note("load", load_pct=round(self.meter.load_pct, 3),
                           s_total_va=round(self.meter.s_total_va, 1))
            self._run_due()
        for pile in self.piles.values():
            pile.update_protocol()
        self.grid.update(self.rng, self.meter.load_fraction)

    def _run_due(self) -> None:
        while self._queue and self._queue[0][0] <= self._last_sim:
            _, _, what, action = heapq.heappop(self._queue)
            try:
                action()
            except SimError as exc:  # a scenario step that no longer fits is logged, not fatal
                self._log(f"scenario: {what} skipped: {exc.message}")

    def _update_meter(self, dt: float) -> None:
        base_w = self.base_load_kw() * 1000.0
        phases = [base_w / 3.0] * 3
        for pile in self.piles.values():
            for i, p in enumerate(pile.input_phase_powers()):
                phases[i] += p
        self.meter.step(phases, dt)

    def base_load_kw(self) -> float:
        if self.base_load_kw_override is not None:
            return self.base_load_kw_override
        return self.scenario.base_load.kw_at(self.time_of_day_s())

    def _log(self, message: str) -> None:
        log.info("[%s] %s", self.clock_text(), message)

    # --- the scenario's schedule ----------------------------------------------------------

    def _plan_plug(self, plan: Any) -> None:
        self.plug(plan.unit, plan.gun, plan.spec, local_start=plan.local_start)

    def _plan_unplug(self, plan: Any) -> None:
        gun = self.pile(plan.unit).gun(plan.gun)
        if gun.ev is None or gun.ev.spec.name != plan.spec.name:
            return  # already taken away by hand through the control API
        self.unplug(plan.unit, plan.gun)

    def _apply_event(self, e: Event) -> None:
        p = e.params
        unit, gun = p.get("unit"), p.get("gun")
        a = e.action
        self._log(f"scenario: {a} {dict(p)}")
        if a == "fault":
            self.raise_fault(unit, p["fault"], gun)
        elif a == "clear_fault":
            self.clear_fault(unit, p["fault"], gun)
        elif a == "reset":
            self.pile(unit).reset_faults(gun)
        elif a == "link_cut":
            self.cut_link(unit)
        elif a == "link_restore":
            self.restore_link(unit)
        elif a == "power_cut":
            self.set_power(unit, False)
        elif a == "power_restore":
            self.set_power(unit, True)
        elif a == "slow":
            self.link_faults.update({"delay_ms": p["delay_ms"]}, p.get("transport", "all"), unit)
        elif a == "garble":
            self.link_faults.update({"garble_rate": p["rate"]}, p.get("transport", "all"), unit)
        elif a == "inject":
            changes = {k: v for k, v in p.items() if k not in ("unit", "transport")}
            self.link_faults.update(changes, p.get("transport", "all"), unit)
        elif a == "base_load":
            self._step_base_load(float(p["kw"]), "scenario")
        elif a == "meter":
            self.meter.set_conditions(**{k: float(v) for k, v in p.items()})
        elif a == "button":
            self.pile(unit).press_stop_button(gun)
        elif a == "card":
            self.pile(unit).card_start(gun)
        elif a in ("unavailable", "available"):
            self.pile(unit).set_available(gun, a == "available")
        elif a in ("suspend", "resume"):
            self.pile(unit).set_ev_suspended(gun, a == "suspend")
        elif a == "absurd":
            self.set_override(unit, dict(p))

    def _revert_event(self, e: Event) -> None:
        p = e.params
        unit, gun = p.get("unit"), p.get("gun")
        a = e.action
        self._log(f"scenario: end of {a} {dict(p)}")
        if a == "fault":
            self.clear_fault(unit, p["fault"], gun)
        elif a == "link_cut":
            self.restore_link(unit)
        elif a == "power_cut":
            self.set_power(unit, True)
        elif a == "slow":
            self.link_faults.update({"delay_ms": 0}, p.get("transport", "all"), unit)
        elif a == "garble":
            self.link_faults.update({"garble_rate": 0}, p.get("transport", "all"), unit)
        elif a == "inject":
            defaults = LinkFaults().to_dict()
            changes = {k: defaults[k] for k in p if k not in ("unit", "transport")}
            self.link_faults.update(changes, p.get("transport", "all"), unit)
        elif a == "base_load":
            self._step_base_load(None, "scenario")
        elif a == "meter":
            self.meter.set_conditions(clear=True)
        elif a == "unavailable":
            self.pile(unit).set_available(gun, True)
        elif a == "suspend":
            self.pile(unit).set_ev_suspended(gun, False)
        elif a == "absurd":
            self.clear_overrides(unit)

    # --- devices --------------------------------------------------------------------------

    def units(self) -> list[int]:
        return sorted([*self.piles, self.scenario.meter.unit])

    def pile(self, unit: Any) -> Pile:
        if not isinstance(unit, int) or isinstance(unit, bool):
            raise SimError(400, f"unit must be an integer, got {unit!r}")
        if unit not in self.piles:
            what = " (that is the meter)" if unit == self.scenario.meter.unit else ""
            raise SimError(404, f"no pile at unit {unit}{what}; piles: {sorted(self.piles)}")
        return self.piles[unit]

    def check_unit(self, unit: Any) -> int:
        if not isinstance(unit, int) or isinstance(unit, bool):
            raise SimError(400, f"unit must be an integer, got {unit!r}")
        if unit not in self.units():
            raise SimError(404, f"no device at unit {unit}; units: {self.units()}")
        return unit

    def reachable(self, unit: int) -> bool:
        """Whether `unit` answers at all (exists, link not cut, powered)."""
        if unit in self.links_cut:
            return False
        if unit == self.scenario.meter.unit:
            return True
        pile = self.piles.get(unit)
        return pile is not None and pile.powered

    # --- Modbus access (from modbus.py) ---------------------------------------------------

    def read(self, unit: int, table: str, address: int, count: int) -> list[int]:
        if unit == self.scenario.meter.unit:
            regs = self.meter.read(address, count)
            table = "input"
            if address <= S_TOTAL_ADDRESS < address + count:
                self._note("meter_read", unit=unit, address=address, count=count,
                           s_total_va=round(self.meter.s_total_va, 1))
        else:
            regs = self.piles[unit].read(table, address, count)
        self._apply_overrides(unit, table, address, regs)
        return regs

    def write(self, unit: int, address: int, values: list[int]) -> WriteError | None:
        if unit == self.scenario.meter.unit:
            error = self.meter.write(address, values)
        else:
            error = self.piles[unit].write_holding(address, values)
        self._note("write", unit=unit, address=address, values=list(values),
                   error=None if error is None else int(error))
        return error

    def _apply_overrides(self, unit: int, table: str, address: int, regs: list[int]) -> None:
        entries = self.overrides.get(unit)
        if not entries:
            return
        end = address + len(regs)
        for ov in list(entries):
            if ov.table != table:
                continue
            lo, hi = max(address, ov.address), min(end, ov.address + len(ov.registers))
            if lo >= hi:
                continue
            regs[lo - address : hi - address] = ov.registers[lo - ov.address : hi - ov.address]
            if ov.reads_left is not None:
                ov.reads_left -= 1
                if ov.reads_left <= 0:
                    entries.remove(ov)

    # --- control operations (control API and scenario) ------------------------------------

    def plug(self, unit: int, gun: int, spec: EVSpec | Mapping[str, Any] | None = None,
             local_start: bool = False, soc: float | None = None) -> None:
        pile = self.pile(unit)
        if not isinstance(spec, EVSpec):
            try:
                spec = EVSpec.from_mapping(spec or {}, "ev")
            except ValueError as exc:
                raise SimError(400, str(exc)) from None
        ev = EV.arriving(spec)
        if soc is not None:
            ev.soc = float(soc)
        pile.plug(gun, ev)
        if local_start or self.scenario.autostart:
            result = pile.card_start(gun)
            if result is not CmdResult.ACCEPTED:
                self._log(f"{pile.spec.id}-{gun}: local start refused: {result.name.lower()}")

    def unplug(self, unit: int, gun: int) -> None:
        self.pile(unit).unplug(gun)

    def raise_fault(self, unit: int, fault: str, gun: int | None = None) -> None:
        self.pile(unit).raise_fault(fault, gun)

    def clear_fault(self, unit: int, fault: str, gun: int | None = None) -> None:
        self.pile(unit).clear_fault(fault, gun)
        self._log(f"pile {unit}: fault {fault} cleared (latched until reset)")

    def cut_link(self, unit: int) -> None:
        self.links_cut.add(self.check_unit(unit))
        self._log(f"link to unit {unit} cut")

    def restore_link(self, unit: int) -> None:
        self.links_cut.discard(self.check_unit(unit))
        self._log(f"link to unit {unit} restored")

    def set_power(self, unit: int, on: bool) -> None:
        pile = self.pile(unit)
        if on:
            pile.power_on()
        else:
            pile.power_off()

    def set_base_load(self, kw: float | None) -> None:
        if kw is not None and (isinstance(kw, bool) or not isinstance(kw, int | float) or kw < 0):
            raise SimError(400, f"kw must be a number >= 0, or null for the scenario's curve; got {kw!r}")
        self._step_base_load(None if kw is None else float(kw), "api")

    def _step_base_load(self, kw: float | None, source: str) -> None:
        self.base_load_kw_override = kw
        self._note("base_load", kw=kw, source=source)
        self._load_step_pending = True

    # --- the activity log -----------------------------------------------------------------

    def _note(self, kind: str, **data: Any) -> None:
        self._activity_seq += 1
        self.activity.append({"seq": self._activity_seq, "kind": kind,
                              "t": round(self.clock.real(), 6), "sim_s": round(self.sim_s, 3),
                              **data})

    def activity_since(self, since: int = 0, kind: str | None = None,
                       unit: int | None = None) -> dict[str, Any]:
        """Entries with seq > `since` (optionally one kind / one unit), oldest first."""
        entries = [e for e in self.activity
                   if e["seq"] > since and (kind is None or e["kind"] == kind)
                   and (unit is None or e.get("unit") == unit)]
        first = self.activity[0]["seq"] if self.activity else self._activity_seq + 1
        return {"entries": entries, "last_seq": self._activity_seq, "first_seq": first}

    def set_speed(self, speed: Any) -> None:
        if isinstance(speed, bool) or not isinstance(speed, int | float):
            raise SimError(400, f"speed must be a number, got {speed!r}")
        try:
            self.tick()  # physics up to now at the old speed
            self.clock.set_speed(float(speed))
        except ValueError as exc:
            raise SimError(400, str(exc)) from None

    def set_override(self, unit: int, body: Mapping[str, Any]) -> Override:
        """Force registers to a value: by `field` (+ `gun`, `table`) with `value` (raw) or
        `delta` (raw, added to the present value), or by `address` with `registers`."""
        unit = self.check_unit(unit)
        known = {"field", "gun", "table", "value", "delta", "address", "registers", "reads", "unit"}
        unknown = sorted(set(body) - known)
        if unknown:
            raise SimError(400, f"unknown key {unknown[0]!r}; known keys: {', '.join(sorted(known))}")
        is_meter = unit == self.scenario.meter.unit
        table = body.get("table", "input")
        if table not in ("input", "holding"):
            raise SimError(400, "table must be 'input' or 'holding'")
        if is_meter:
            table = "input"
        reads = body.get("reads")
        if reads is not None and (not isinstance(reads, int) or isinstance(reads, bool) or reads < 1):
            raise SimError(400, "reads must be a positive integer (or leave it out: until cleared)")
        if "field" in body:
            address, fld = self._locate_field(unit, is_meter, table, body)
            if ("value" in body) == ("delta" in body):
                raise SimError(400, "give exactly one of value (raw register value) or delta")
            if "value" in body:
                value = _int(body["value"], "value")
            else:
                self.tick()
                present = fld.decode(self.read(unit, table, address, fld.size))
                value = int(present) + _int(body["delta"], "delta")
            registers = fld.encode(value)
            label = f"{fld.name}" + (f" gun {body['gun']}" if body.get("gun") else "")
        elif "address" in body and "registers" in body:
            address = _int(body["address"], "address")
            registers = body["registers"]
            if (not isinstance(registers, list) or not registers
                    or not all(isinstance(r, int) and 0 <= r <= 0xFFFF for r in registers)):
                raise SimError(400, "registers must be a non-empty list of integers 0..65535")
            label = f"{table} {address}"
        else:
            raise SimError(400, "give field (+ gun, table) with value or delta, "
                                "or address with registers")
        ov = Override(table, address, list(registers), reads, label)
        self.overrides.setdefault(unit, []).append(ov)
        self._log(f"unit {unit}: {label} forced to registers {ov.registers}")
        return ov

    def _locate_field(self, unit: int, is_meter: bool, table: str,
                      body: Mapping[str, Any]) -> tuple[int, Field]:
        name = body["field"]
        try:
            if is_meter:
                return meter_field(name)
            gun = body.get("gun")
            if gun is not None:
                self.pile(unit).gun(gun)
            return pile_field(table, name, gun)
        except KeyError:
            raise SimError(404, f"unit {unit} has no {table} field {name!r}"
                                + ("" if is_meter else " in that block (a gun field needs gun)")
                           ) from None

    def clear_overrides(self, unit: int | None = None) -> None:
        if unit is None:
            self.overrides.clear()
        else:
            self.overrides.pop(self.check_unit(unit), None)

    # --- reporting ------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        self.tick()
        return {
            "scenario": self.scenario.name,
            "clock": {
                "sim_s": round(self.sim_s, 3),
                "time_of_day": self.clock_text().split(" ", 2)[2],
                "day": int((self.scenario.start_time_s + self.sim_s) // DAY_S),
                "speed": self.clock.speed,
                "real_s": round(self.clock.real(), 3),
            },
            "transformer": {
                "rated_kva": self.scenario.meter.rated_kva,
                "load_pct": round(self.meter.load_pct, 2),
                "s_total_va": round(self.meter.s_total_va, 1),
            },
            "base_load_kw": round(self.base_load_kw(), 3),
            "base_load_overridden": self.base_load_kw_override is not None,
            "piles": [
                {**pile.snapshot(), "link_cut": unit in self.links_cut,
                 "reachable": self.reachable(unit)}
                for unit, pile in sorted(self.piles.items())
            ],
            "meter": {**self.meter.snapshot(),
                      "link_cut": self.scenario.meter.unit in self.links_cut,
                      "reachable": self.reachable(self.scenario.meter.unit)},
            "link_faults": self.link_faults.to_dict(),
            "overrides": {str(u): [o.to_dict() for o in ovs]
                          for u, ovs in sorted(self.overrides.items()) if ovs},
            "stats": self.stats,
            "next_events": [
                {"at_sim_s": round(t - self._origin_sim, 1), "what": what}
                for t, _, what, _ in sorted(self._queue)[:10]
            ],
        }


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SimError(400, f"{name} must be an integer, got {value!r}")
    return value
