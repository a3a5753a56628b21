"""A charging pile per spec/pile-modbus-map.md ("jc-ref-v1"): a pure model, no I/O.

The pile is driven by a clock (see clock.py): `step(dt)` advances physics by `dt` simulated
seconds; protocol timing (start delay, limit delay, watchdog) is checked against the clock's
real time. Modbus writes arrive through `write_holding`, reads through `read`.

Behaviour the spec leaves open, decided here (and documented in docs/simulator.md):
- A start is accepted at once (last_cmd_result 1); the session opens (session_counter +1,
  session_tag latched, session_energy/seconds reset, state 2) when current starts to flow,
  `start_delay_s` later. A second start meanwhile is "busy" (4); a stop cancels it.
- Stop is always "accepted" (1), also when there is nothing to stop, so that a gateway
  retrying a stop whose reply got lost sees success.
- After a session ends with the EV still plugged the gun shows 5 (finishing) until the EV
  is unplugged; a start there is "busy" (4). A fault reset (6) with the EV plugged returns
  the gun to 1, ready for a new start.
- The holding power_limit reads back what was written; input 19 shows the clamped value
  being obeyed.
- Writing command 0 is a no-op, so that a block write of 100..108 can set limits and tag
  without a command.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from .clock import Clock
from .errors import SimError
from .ev import EV
from .grid import Grid
from .registers import (
    NA16,
    PILE_HOLDING_DEVICE,
    PILE_HOLDING_GUN,
    PILE_MAP_VERSION,
    Field,
    Layout,
    pile_blocks,
)


class GunState(IntEnum):
    AVAILABLE = 0
    PLUGGED = 1
    CHARGING = 2
    SUSPENDED_EV = 3
    SUSPENDED_EVSE = 4
    FINISHING = 5
    RESERVED = 6
    UNAVAILABLE = 7
    FAULTED = 8


class StopReason(IntEnum):
    NONE = 0
    REMOTE = 1
    LOCAL = 2
    EV_UNPLUGGED = 3
    EV_FULL = 4
    FAULT = 5
    LIMIT = 6
    FALLBACK = 7
    POWER_LOSS = 8


class Command(IntEnum):
    START = 1
    STOP = 2
    RESERVE = 3
    CANCEL_RESERVATION = 4
    RESET_FAULT = 6


class CmdResult(IntEnum):
    NONE = 0
    ACCEPTED = 1
    NOT_PLUGGED = 2
    FAULTED = 3
    BUSY = 4
    RESERVED_OTHER = 5
    UNAVAILABLE = 6


class WriteError(IntEnum):
    """Modbus exception codes a refused write is answered with."""

    ILLEGAL_ADDRESS = 2
    ILLEGAL_VALUE = 3


FAULT_BITS: dict[str, int] = {
    "over_temperature": 0,
    "input_overvoltage": 1,
    "input_undervoltage": 2,
    "output_overvoltage": 3,
    "output_undervoltage": 4,
    "insulation_fault": 5,
    "emergency_stop": 6,
    "output_overcurrent": 7,
    "residual_current": 8,
    "connector_lock": 9,
    "meter_fault": 10,
    "internal_comm": 11,
}

# How a fault's cause shows in the measurements while it is present.
_OVERTEMP_READING_C = 88.0
_INPUT_OVERVOLTAGE_FACTOR = 1.18
_INPUT_UNDERVOLTAGE_FACTOR = 0.78
_TEMPERATURE_TAU_S = 180.0  # thermal time constant of a gun's cable/contactors
_MAX_U16 = 0xFFFF
_MAX_U32 = 0xFFFFFFFF
_COMMAND_VALUES = frozenset({0} | {c.value for c in Command})


def fault_mask(names: list[str]) -> int:
    mask = 0
    for name in names:
        if name not in FAULT_BITS:
            raise SimError(400, f"unknown fault {name!r}; known faults: {', '.join(FAULT_BITS)}")
        mask |= 1 << FAULT_BITS[name]
    return mask


def fault_names(mask: int) -> list[str]:
    return [name for name, bit in FAULT_BITS.items() if mask & (1 << bit)]


@dataclass(frozen=True)
class Timing:
    """Protocol timing in real seconds (see clock.py for why it is not simulated time)."""

    start_delay_s: float = 1.0  # the spec: charging begins within 2 s
    limit_delay_s: float = 0.5  # the spec: a new limit takes effect within 1 s


@dataclass(frozen=True)
class PileSpec:
    unit: int
    id: str
    current: str  # "AC" or "DC"
    guns: int
    rated_power_w: int  # per gun
    phases: int = 1  # AC: 1 or 3; DC: 0
    max_current_a: float = 32.0  # AC: per phase; DC: output current limit
    min_current_a: float = 6.0  # AC only: lowest current a running session accepts
    supply_phase: int = 1  # single-phase AC piles: the phase (1..3) they hang on
    max_total_power_w: int | None = None  # shared power modules: all guns together
    serial: str = ""
    firmware: tuple[int, int, int] = (1, 0, 0)  # major, minor, build
    standby_w: float = 10.0  # drawn from the grid even when idle (meter sees it)
    efficiency: float = 1.0  # output / input; DC converters lose a few per cent
    fallback_stop_after_s: float = 0.0  # >0: a session paused by fallback ends (reason 7)
    ambient_c: float = 25.0
    full_load_rise_c: float = 20.0

    @property
    def dc(self) -> bool:
        return self.current == "DC"

    def summary(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "kind": "pile",
            "profile": "jc-ref-v1",
            "guns": self.guns,
            "rated_power_w": self.rated_power_w,
            "current": self.current,
            "phases": self.phases,
            "id": self.id,
            "serial": self.serial,
        }


@dataclass
class Gun:
    number: int
    power_limit_w: int  # holding register, as written
    limit_active_w: int  # what the gun obeys now (clamped, after fallback)
    temperature_c: float
    state: GunState = GunState.AVAILABLE
    ev: EV | None = None
    unavailable: bool = False
    reserved_tag: int | None = None
    finished_with_ev: bool = False  # a session ended while this EV stayed plugged
    fault_causes: int = 0  # faults whose cause is present
    faults: int = 0  # latched fault bits, as reported
    session_tag_reg: int = 0  # holding 3..4
    energy_limit_wh: int = 0
    time_limit_s: int = 0
    pending_limit: tuple[float, int] | None = None  # (due real time, value)
    pending_start: tuple[float, int] | None = None  # (due real time, tag)
    in_session: bool = False
    session_counter: int = 0
    session_tag: int = 0
    session_energy_wh: float = 0.0
    session_seconds: float = 0.0
    stop_reason: StopReason = StopReason.NONE
    energy_total_wh: float = 0.0
    last_cmd_result: CmdResult = CmdResult.NONE
    power_w: float = 0.0
    currents_a: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    voltages_v: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    paused_by_fallback_since: float | None = None


class Pile:
    def __init__(
        self,
        spec: PileSpec,
        clock: Clock,
        grid: Grid,
        timing: Timing | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.spec = spec
        self.clock = clock
        self.grid = grid
        self.timing = timing or Timing()
        self._log = log or (lambda _msg: None)
        self.powered = True
        self.guns = [
            Gun(
                number=g,
                power_limit_w=spec.rated_power_w,
                limit_active_w=spec.rated_power_w,
                temperature_c=spec.ambient_c,
            )
            for g in range(1, spec.guns + 1)
        ]
        self._boot(first=True)

    # --- lifecycle ------------------------------------------------------------------------

    def _boot(self, first: bool = False) -> None:
        """Power-on: volatile settings back to defaults; lifetime counters are kept."""
        now = self.clock.real()
        self.boot_sim = self.clock.sim()
        self.watchdog_s = 0
        self.fallback_power_w = 0
        self.heartbeat = 0
        self.last_feed_real = now
        for gun in self.guns:
            gun.power_limit_w = self.spec.rated_power_w
            gun.limit_active_w = self.spec.rated_power_w
            gun.pending_limit = None
            gun.pending_start = None
            gun.session_tag_reg = 0
            gun.energy_limit_wh = 0
            gun.time_limit_s = 0
            gun.reserved_tag = None
            gun.last_cmd_result = CmdResult.NONE
            gun.paused_by_fallback_since = None
            gun.faults = gun.fault_causes  # a power cycle resets latches whose cause is gone
            self._settle(gun)
        if not first:
            self._log(f"{self.spec.id} powered on")

    def power_off(self) -> None:
        if not self.powered:
            return
        for gun in self.guns:
            if gun.in_session:
                self._end_session(gun, StopReason.POWER_LOSS)
            gun.pending_start = None
            self._zero_measurements(gun)
        self.powered = False
        self._log(f"{self.spec.id} lost power")

    def power_on(self) -> None:
        if self.powered:
            return
        self.powered = True
        self._boot()

    # --- things that happen at the pile ---------------------------------------------------

    def gun(self, number: int) -> Gun:
        if not 1 <= number <= len(self.guns):
            raise SimError(
                404, f"pile {self.spec.unit} ({self.spec.id}) has no gun {number}; "
                f"it has {len(self.guns)} gun(s)"
            )
        return self.guns[number - 1]

    def plug(self, number: int, ev: EV) -> None:
        gun = self.gun(number)
        if gun.ev is not None:
            raise SimError(409, f"{self.gun_id(gun)} already has an EV plugged in; unplug it first")
        gun.ev = ev
        gun.finished_with_ev = False
        self._log(f"{self.gun_id(gun)}: EV {ev.spec.name} plugged in at {ev.soc:.0f}% SoC")
        self._settle(gun)

    def unplug(self, number: int) -> None:
        gun = self.gun(number)
        if gun.ev is None:
            raise SimError(409, f"{self.gun_id(gun)} has no EV plugged in")
        if gun.in_session:
            self._end_session(gun, StopReason.EV_UNPLUGGED)
        gun.pending_start = None
        name = gun.ev.spec.name
        gun.ev = None
        gun.finished_with_ev = False
        self._zero_measurements(gun)
        self._settle(gun)
        self._log(f"{self.gun_id(gun)}: EV {name} unplugged")

    def set_ev_suspended(self, number: int, suspended: bool) -> None:
        gun = self.gun(number)
        if gun.ev is None:
            raise SimError(409, f"{self.gun_id(gun)} has no EV plugged in")
        gun.ev.suspended = suspended

    def press_stop_button(self, number: int) -> None:
        """The driver stops the session at the pile (stop reason 2)."""
        gun = self.gun(number)
        if gun.in_session:
            self._end_session(gun, StopReason.LOCAL)
        gun.pending_start = None

    def card_start(self, number: int) -> CmdResult:
        """A session started at the pile itself (card, free mode): session_tag 0."""
        gun = self.gun(number)
        result = self._start_check(gun, tag=None)
        if result is CmdResult.ACCEPTED:
            gun.pending_start = (self.clock.real() + self.timing.start_delay_s, 0)
        return result

    def set_available(self, number: int, available: bool) -> None:
        gun = self.gun(number)
        if not available and (gun.in_session or gun.pending_start):
            raise SimError(409, f"{self.gun_id(gun)} is charging; stop the session first")
        gun.unavailable = not available
        self._settle(gun)

    def raise_fault(self, name: str, number: int | None = None) -> None:
        mask = fault_mask([name])
        for gun in self._guns_or_all(number):
            gun.fault_causes |= mask
            if not self.powered:
                continue  # latches at the next boot, as the pile sees the cause then
            gun.faults |= mask
            if gun.in_session:
                self._end_session(gun, StopReason.FAULT)
            gun.pending_start = None
            gun.reserved_tag = None
            self._settle(gun)
            self._log(f"{self.gun_id(gun)}: fault {name} raised")

    def clear_fault(self, name: str, number: int | None = None) -> None:
        """The cause goes away; the bit stays latched until a reset command (6)."""
        mask = fault_mask([name])
        for gun in self._guns_or_all(number):
            gun.fault_causes &= ~mask

    def reset_faults(self, number: int | None = None) -> list[CmdResult]:
        """The reset button at the pile: the same as command 6 on each gun."""
        return [self._command(gun, Command.RESET_FAULT) for gun in self._guns_or_all(number)]

    def _guns_or_all(self, number: int | None) -> list[Gun]:
        return list(self.guns) if number is None else [self.gun(number)]

    # --- Modbus ---------------------------------------------------------------------------

    def read(self, table: str, address: int, count: int) -> list[int]:
        """`count` registers from `address`; addresses in no block read 0."""
        out = [0] * count
        for base, layout in pile_blocks(table, self.spec.guns):
            lo, hi = max(address, base), min(address + count, base + layout.span)
            if lo >= hi:
                continue
            image = layout.encode(self._values(table, layout, base))
            out[lo - address : hi - address] = image[lo - base : hi - base]
        return out

    def _values(self, table: str, layout: Layout, base: int) -> dict[str, int | str]:
        gun = self.guns[base // 100 - 1] if base else None
        if table == "input":
            return self.input_values(gun)
        return self.holding_values(gun)

    def holding_values(self, gun: Gun | None) -> dict[str, int | str]:
        if gun is None:
            return {
                "watchdog_s": self.watchdog_s,
                "fallback_power": self.fallback_power_w,
                "heartbeat": self.heartbeat,
            }
        return {
            "command": 0,  # the spec: the command register reads 0
            "power_limit": gun.power_limit_w,
            "session_tag": gun.session_tag_reg,
            "energy_limit": gun.energy_limit_wh,
            "time_limit": gun.time_limit_s,
        }

    def input_values(self, gun: Gun | None) -> dict[str, int | str]:
        spec = self.spec
        if gun is None:
            major, minor, build = spec.firmware
            uptime_min = int(max(0.0, self.clock.sim() - self.boot_sim) // 60) & _MAX_U16
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
                "uptime_min": uptime_min,
                "heartbeat_echo": self.heartbeat,
            }
        values: dict[str, int | str] = {
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

    def write_holding(self, address: int, values: list[int]) -> WriteError | None:
        """Apply a write of registers `address..`; refuse it whole (changing nothing) if any
        register is undocumented (02) or a value is out of range (03)."""
        staged: dict[tuple[int, str], list[int]] = {}  # (gun 0 = device, field) -> registers
        for i, value in enumerate(values):
            located = self._locate_holding(address + i)
            if located is None:
                return WriteError.ILLEGAL_ADDRESS
            gun_no, fld, word = located
            key = (gun_no, fld.name)
            if key not in staged:
                current = self.holding_values(self.guns[gun_no - 1] if gun_no else None)
                staged[key] = fld.encode(current[fld.name])
            staged[key][word] = value & 0xFFFF
        decoded = {
            key: self._holding_field(key).decode(regs) for key, regs in staged.items()
        }
        for (_gun_no, name), value in decoded.items():
            if name == "command" and value not in _COMMAND_VALUES:
                return WriteError.ILLEGAL_VALUE
        now = self.clock.real()
        commands: list[tuple[Gun, int]] = []
        for (gun_no, name), value in sorted(decoded.items()):
            value = int(value)
            if gun_no == 0:
                if name == "watchdog_s":
                    self.watchdog_s = value
                    self.last_feed_real = now  # a new period starts from this write
                elif name == "fallback_power":
                    self.fallback_power_w = value
                elif name == "heartbeat":
                    self.heartbeat = value
                    self.last_feed_real = now
                continue
            gun = self.guns[gun_no - 1]
            if name == "command":
                if value:
                    commands.append((gun, value))
            elif name == "power_limit":
                gun.power_limit_w = value
            elif name == "session_tag":
                gun.session_tag_reg = value
            elif name == "energy_limit":
                gun.energy_limit_wh = value
            elif name == "time_limit":
                gun.time_limit_s = value
        for gun, value in commands:  # after limits and tag written in the same request
            gun.last_cmd_result = self._command(gun, Command(value))
        self.update_protocol()
        return None

    def _locate_holding(self, address: int) -> tuple[int, Field, int] | None:
        if address < 100:
            layout, gun_no, offset = PILE_HOLDING_DEVICE, 0, address
        else:
            gun_no, offset = divmod(address, 100)
            if not 1 <= gun_no <= self.spec.guns:
                return None
            layout = PILE_HOLDING_GUN
        found = layout.at(offset)
        if found is None or not found[0].writable:
            return None
        return gun_no, found[0], found[1]

    @staticmethod
    def _holding_field(key: tuple[int, str]) -> Field:
        gun_no, name = key
        return (PILE_HOLDING_GUN if gun_no else PILE_HOLDING_DEVICE).field(name)

    # --- commands -------------------------------------------------------------------------

    def _command(self, gun: Gun, command: Command) -> CmdResult:
        if command is Command.START:
            result = self._start_check(gun, tag=gun.session_tag_reg)
            if result is CmdResult.ACCEPTED:
                due = self.clock.real() + self.timing.start_delay_s
                gun.pending_start = (due, gun.session_tag_reg)
            return result
        if command is Command.STOP:
            if gun.in_session:
                self._end_session(gun, StopReason.REMOTE)
            gun.pending_start = None
            return CmdResult.ACCEPTED
        if command is Command.RESERVE:
            if gun.state is GunState.FAULTED:
                return CmdResult.FAULTED
            if gun.unavailable:
                return CmdResult.UNAVAILABLE
            if gun.in_session or gun.pending_start or gun.state is GunState.FINISHING:
                return CmdResult.BUSY
            if gun.reserved_tag is not None and gun.reserved_tag != gun.session_tag_reg:
                return CmdResult.RESERVED_OTHER
            gun.reserved_tag = gun.session_tag_reg
            self._settle(gun)
            return CmdResult.ACCEPTED
        if command is Command.CANCEL_RESERVATION:
            gun.reserved_tag = None  # cancelling nothing is a success too
            self._settle(gun)
            return CmdResult.ACCEPTED
        # RESET_FAULT
        if gun.fault_causes:
            return CmdResult.FAULTED  # the cause is still there: the latch holds
        if gun.faults:
            gun.faults = 0
            gun.finished_with_ev = False  # back to "plugged", ready for a new start
            self._settle(gun)
            self._log(f"{self.gun_id(gun)}: faults reset")
        return CmdResult.ACCEPTED

    def _start_check(self, gun: Gun, tag: int | None) -> CmdResult:
        if gun.state is GunState.FAULTED:
            return CmdResult.FAULTED
        if gun.unavailable:
            return CmdResult.UNAVAILABLE
        if gun.in_session or gun.pending_start or gun.state is GunState.FINISHING:
            return CmdResult.BUSY
        if gun.reserved_tag is not None and gun.reserved_tag != tag:
            return CmdResult.RESERVED_OTHER
        if gun.ev is None:
            return CmdResult.NOT_PLUGGED
        return CmdResult.ACCEPTED

    # --- time -----------------------------------------------------------------------------

    @property
    def watchdog_expired(self) -> bool:
        return bool(self.watchdog_s) and self.clock.real() - self.last_feed_real >= self.watchdog_s

    def update_protocol(self) -> None:
        """Real-time protocol behaviour: limits taking effect, watchdog, delayed starts."""
        if not self.powered:
            return
        now = self.clock.real()
        expired = self.watchdog_expired
        wanted = self.fallback_power_w if expired else None
        for gun in self.guns:
            target = min(max(gun.power_limit_w if wanted is None else wanted, 0),
                         self.spec.rated_power_w)
            if target == gun.limit_active_w:
                gun.pending_limit = None
            elif gun.pending_limit is None or gun.pending_limit[1] != target:
                gun.pending_limit = (now + self.timing.limit_delay_s, target)
            if gun.pending_limit and now >= gun.pending_limit[0]:
                gun.limit_active_w = gun.pending_limit[1]
                gun.pending_limit = None
            self._fallback_stop(gun, expired, now)
            if gun.pending_start and now >= gun.pending_start[0]:
                tag = gun.pending_start[1]
                gun.pending_start = None
                if gun.ev is not None and not gun.faults and not gun.unavailable:
                    self._begin_session(gun, tag)

    def _fallback_stop(self, gun: Gun, expired: bool, now: float) -> None:
        paused = gun.in_session and gun.state is GunState.SUSPENDED_EVSE
        if not (expired and paused and self.spec.fallback_stop_after_s > 0):
            gun.paused_by_fallback_since = None
            return
        if gun.paused_by_fallback_since is None:
            gun.paused_by_fallback_since = now
        elif now - gun.paused_by_fallback_since >= self.spec.fallback_stop_after_s:
            self._end_session(gun, StopReason.FALLBACK)

    def step(self, dt: float) -> None:
        """Advance physics by `dt` simulated seconds."""
        self.update_protocol()
        if not self.powered:
            return
        demands = {gun.number: self._demand(gun) for gun in self.guns if gun.in_session}
        cap = self.spec.max_total_power_w
        total = sum(demands.values())
        if cap and total > cap:  # shared power modules: every gun gets its share
            demands = {n: p * cap / total for n, p in demands.items()}
        for gun in self.guns:
            power = demands.get(gun.number, 0.0)
            if gun.in_session:
                self._integrate(gun, power, dt)
            else:
                self._zero_measurements(gun)
            self._update_temperature(gun, dt)
            self._update_voltages(gun)

    def _demand(self, gun: Gun) -> float:
        """Power this gun would deliver now, and its state (2, 3 or 4) as a side effect."""
        ev = gun.ev
        assert ev is not None
        limit = gun.limit_active_w
        if ev.suspended:
            gun.state = GunState.SUSPENDED_EV
            return 0.0
        if limit <= 0:
            gun.state = GunState.SUSPENDED_EVSE
            return 0.0
        if self.spec.dc:
            volts = ev.battery_voltage_v()
            power = min(limit, ev.dc_acceptance_w(), self.spec.max_current_a * volts)
        else:
            phases = self._phases_used(gun)
            volts = self._supply_voltage(phases)
            offered = min(limit / (volts * phases), self.spec.max_current_a)
            if offered < self.spec.min_current_a:
                # IEC 61851: below the minimum current the EVSE pauses, it does not go lower
                gun.state = GunState.SUSPENDED_EVSE
                return 0.0
            power = min(offered, ev.ac_current_a()) * volts * phases
        gun.state = GunState.CHARGING if power > 0 else GunState.SUSPENDED_EV
        return max(power, 0.0)

    def _integrate(self, gun: Gun, power: float, dt: float) -> None:
        ev = gun.ev
        assert ev is not None
        dc = self.spec.dc
        if ev.full:
            self._end_session(gun, StopReason.EV_FULL)
            return
        # The first threshold this step would cross: stop exactly there, not a step later.
        candidates: list[tuple[float, str]] = [(ev.seconds_to_target(power, dc), "full")]
        if gun.energy_limit_wh:
            remaining_wh = gun.energy_limit_wh - gun.session_energy_wh
            t = 0.0 if remaining_wh <= 0 else (remaining_wh * 3600 / power if power > 0 else math.inf)
            candidates.append((t, "energy"))
        if gun.time_limit_s:
            candidates.append((max(0.0, gun.time_limit_s - gun.session_seconds), "time"))
        t_stop, why = min(candidates, key=lambda c: c[0])
        run = min(dt, t_stop)
        energy_wh = power * run / 3600.0
        if why == "energy" and t_stop <= dt:
            # land on the limit itself, not a float hair below it
            energy_wh = max(energy_wh, gun.energy_limit_wh - gun.session_energy_wh)
        gun.session_energy_wh += energy_wh
        gun.energy_total_wh += energy_wh
        gun.session_seconds += run
        ev.receive(energy_wh, dc)
        self._set_measurements(gun, power)
        if t_stop > dt:
            return
        if why == "full":
            ev.soc = max(ev.soc, ev.spec.target_soc)
            self._end_session(gun, StopReason.EV_FULL)
            return
        if why == "time":
            gun.session_seconds = max(gun.session_seconds, float(gun.time_limit_s))
        self._end_session(gun, StopReason.LIMIT)

    def _begin_session(self, gun: Gun, tag: int) -> None:
        gun.in_session = True
        gun.session_counter = (gun.session_counter + 1) & _MAX_U16  # wraps 65535 -> 0
        gun.session_tag = tag
        gun.session_energy_wh = 0.0
        gun.session_seconds = 0.0
        gun.stop_reason = StopReason.NONE
        gun.reserved_tag = None
        gun.finished_with_ev = False
        gun.state = GunState.CHARGING
        self._log(f"{self.gun_id(gun)}: session {gun.session_counter} started (tag {tag})")

    def _end_session(self, gun: Gun, reason: StopReason) -> None:
        gun.in_session = False
        gun.stop_reason = reason
        gun.finished_with_ev = gun.ev is not None
        gun.paused_by_fallback_since = None
        self._zero_measurements(gun)
        self._settle(gun)
        self._log(
            f"{self.gun_id(gun)}: session {gun.session_counter} stopped: {reason.name.lower()}, "
            f"{gun.session_energy_wh / 1000:.2f} kWh in {gun.session_seconds / 60:.1f} min"
        )

    def _settle(self, gun: Gun) -> None:
        """The state of a gun that is not in a session."""
        if gun.in_session:
            return
        if gun.faults:
            gun.state = GunState.FAULTED
        elif gun.unavailable:
            gun.state = GunState.UNAVAILABLE
        elif gun.reserved_tag is not None:
            gun.state = GunState.RESERVED
        elif gun.ev is not None:
            gun.state = GunState.FINISHING if gun.finished_with_ev else GunState.PLUGGED
        else:
            gun.state = GunState.AVAILABLE

    # --- measurements ---------------------------------------------------------------------

    def _phases_used(self, gun: Gun) -> int:
        if self.spec.phases == 1 or gun.ev is None:
            return 1
        return min(self.spec.phases, gun.ev.spec.ac_phases)

    def _phase_indexes(self, gun: Gun) -> list[int]:
        if self.spec.phases == 1:
            return [self.spec.supply_phase - 1]
        return list(range(self._phases_used(gun)))

    def _supply_voltage(self, phases: int) -> float:
        idx = [self.spec.supply_phase - 1] if self.spec.phases == 1 else list(range(phases))
        return sum(self.grid.phase_v[i] for i in idx) / len(idx)

    def _set_measurements(self, gun: Gun, power: float) -> None:
        gun.power_w = power
        gun.currents_a = [0.0, 0.0, 0.0]
        if power <= 0:
            return
        if self.spec.dc:
            assert gun.ev is not None
            gun.currents_a[0] = power / gun.ev.battery_voltage_v()
            return
        idx = self._phase_indexes(gun)
        per_phase = power / len(idx)
        for slot, phase in enumerate(idx):
            # the register slots l1..l3 follow the pile's own terminals
            register_slot = 0 if self.spec.phases == 1 else slot
            gun.currents_a[register_slot] = per_phase / self.grid.phase_v[phase]

    def _zero_measurements(self, gun: Gun) -> None:
        gun.power_w = 0.0
        gun.currents_a = [0.0, 0.0, 0.0]

    def _update_voltages(self, gun: Gun) -> None:
        if self.spec.dc:
            charging = gun.in_session and gun.power_w > 0 and gun.ev is not None
            gun.voltages_v = [gun.ev.battery_voltage_v() if charging else 0.0, 0.0, 0.0]
            return
        factor = 1.0
        if gun.fault_causes & (1 << FAULT_BITS["input_overvoltage"]):
            factor = _INPUT_OVERVOLTAGE_FACTOR
        elif gun.fault_causes & (1 << FAULT_BITS["input_undervoltage"]):
            factor = _INPUT_UNDERVOLTAGE_FACTOR
        if self.spec.phases == 1:
            gun.voltages_v = [self.grid.phase_v[self.spec.supply_phase - 1] * factor, 0.0, 0.0]
        else:
            gun.voltages_v = [v * factor for v in self.grid.phase_v]

    def _update_temperature(self, gun: Gun, dt: float) -> None:
        if gun.fault_causes & (1 << FAULT_BITS["over_temperature"]):
            gun.temperature_c = _OVERTEMP_READING_C
            return
        load = gun.power_w / self.spec.rated_power_w if self.spec.rated_power_w else 0.0
        target = self.spec.ambient_c + self.spec.full_load_rise_c * load
        gun.temperature_c += (target - gun.temperature_c) * (1 - math.exp(-dt / _TEMPERATURE_TAU_S))

    def input_phase_powers(self) -> list[float]:
        """What the pile draws from each grid phase (W), standby included."""
        if not self.powered:
            return [0.0, 0.0, 0.0]
        draw = [0.0, 0.0, 0.0]
        standby_phases = [self.spec.supply_phase - 1] if self.spec.phases == 1 else [0, 1, 2]
        for i in standby_phases:
            draw[i] += self.spec.standby_w / len(standby_phases)
        for gun in self.guns:
            if gun.power_w <= 0:
                continue
            grid_w = gun.power_w / self.spec.efficiency
            idx = [0, 1, 2] if self.spec.dc else self._phase_indexes(gun)
            for i in idx:
                draw[i] += grid_w / len(idx)
        return draw

    # --- reporting ------------------------------------------------------------------------

    def gun_id(self, gun: Gun) -> str:
        return f"{self.spec.id}-{gun.number}"

    def snapshot(self) -> dict[str, Any]:
        return {
            **self.spec.summary(),
            "powered": self.powered,
            "uptime_s": round(self.clock.sim() - self.boot_sim, 1),
            "watchdog_s": self.watchdog_s,
            "watchdog_expired": self.watchdog_expired,
            "fallback_power_w": self.fallback_power_w,
            "heartbeat": self.heartbeat,
            "registers": {
                "input": self.input_values(None),
                "holding": self.holding_values(None),
            },
            "guns": [self._gun_snapshot(g) for g in self.guns],
        }

    def _gun_snapshot(self, gun: Gun) -> dict[str, Any]:
        return {
            "gun": gun.number,
            "id": self.gun_id(gun),
            "state": int(gun.state),
            "state_name": gun.state.name.lower(),
            "faults": fault_names(gun.faults),
            "fault_causes": fault_names(gun.fault_causes),
            "in_session": gun.in_session,
            "start_pending": gun.pending_start is not None,
            "reserved_tag": gun.reserved_tag,
            "unavailable": gun.unavailable,
            "power_w": round(gun.power_w, 1),
            "voltages_v": [round(v, 1) for v in gun.voltages_v],
            "currents_a": [round(a, 2) for a in gun.currents_a],
            "temperature_c": round(gun.temperature_c, 1),
            "energy_total_wh": round(gun.energy_total_wh, 3),
            "session": {
                "counter": gun.session_counter,
                "tag": gun.session_tag,
                "energy_wh": round(gun.session_energy_wh, 3),
                "seconds": round(gun.session_seconds, 1),
                "stop_reason": int(gun.stop_reason),
                "stop_reason_name": gun.stop_reason.name.lower(),
            },
            "limits": {
                "power_limit_w": gun.power_limit_w,
                "power_limit_active_w": gun.limit_active_w,
                "pending_limit_w": gun.pending_limit[1] if gun.pending_limit else None,
                "energy_limit_wh": gun.energy_limit_wh,
                "time_limit_s": gun.time_limit_s,
            },
            "last_cmd_result": int(gun.last_cmd_result),
            "last_cmd_result_name": gun.last_cmd_result.name.lower(),
            "ev": gun.ev.to_dict() if gun.ev else None,
            "registers": {
                "input": self.input_values(gun),
                "holding": self.holding_values(gun),
            },
        }


__all__ = [
    "FAULT_BITS",
    "CmdResult",
    "Command",
    "Gun",
    "GunState",
    "Pile",
    "PileSpec",
    "StopReason",
    "Timing",
    "WriteError",
    "fault_mask",
    "fault_names",
]
