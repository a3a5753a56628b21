"""A charging pile per spec/pile-modbus-map.md ("jc-ref-v1"): a pure model, no I/O.

`Pile` wires the parts of this package together: the session state machine (sessions.py)
decides what commands and events do, the electrical and thermal models (electrical.py,
thermal.py) move the physics, limits.py holds the watchdog and the limit a gun obeys, and
the register view (register_view.py) serves it all as the map.

The pile is driven by a clock (see clock.py): `step(dt)` advances physics by `dt` simulated
seconds; protocol timing (start delay, limit delay, watchdog) is checked against the clock's
real time. Modbus writes arrive through `write_holding`, reads through `read`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..clock import Clock
from ..errors import SimError
from ..ev import EV
from ..grid import Grid
from .electrical import ElectricalModel
from .gun import CmdResult, Gun, fault_mask, fault_names
from .limits import Watchdog, follow_limit, obeyed_limit
from .register_view import (
    WriteError,
    decode_holding_write,
    device_holding_values,
    device_input_values,
    gun_holding_values,
    gun_input_values,
    read_registers,
)
from .sessions import Command, SessionMachine
from .spec import PileSpec, Timing
from .thermal import update_temperature


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
        self.sessions = SessionMachine(spec.id, self.timing, spec.fallback_stop_after_s, self._log)
        self.electrical = ElectricalModel(spec, grid)
        self.watchdog = Watchdog()
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

    # The watchdog's registers, under the names they have always had on the pile.

    @property
    def watchdog_s(self) -> int:
        return self.watchdog.period_s

    @watchdog_s.setter
    def watchdog_s(self, value: int) -> None:
        self.watchdog.period_s = value

    @property
    def fallback_power_w(self) -> int:
        return self.watchdog.fallback_power_w

    @fallback_power_w.setter
    def fallback_power_w(self, value: int) -> None:
        self.watchdog.fallback_power_w = value

    @property
    def heartbeat(self) -> int:
        return self.watchdog.heartbeat

    @heartbeat.setter
    def heartbeat(self, value: int) -> None:
        self.watchdog.heartbeat = value

    @property
    def last_feed_real(self) -> float:
        return self.watchdog.last_feed_real

    @last_feed_real.setter
    def last_feed_real(self, value: float) -> None:
        self.watchdog.last_feed_real = value

    @property
    def watchdog_expired(self) -> bool:
        return self.watchdog.expired(self.clock.real())

    # --- lifecycle ------------------------------------------------------------------------

    def _boot(self, first: bool = False) -> None:
        """Power-on: volatile settings back to defaults; lifetime counters are kept."""
        self.boot_sim = self.clock.sim()
        self.watchdog.reset(self.clock.real())
        for gun in self.guns:
            gun.reset_volatile(self.spec.rated_power_w)
            self.sessions.settle(gun)
        if not first:
            self._log(f"{self.spec.id} powered on")

    def power_off(self) -> None:
        if not self.powered:
            return
        for gun in self.guns:
            self.sessions.power_loss(gun)
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
        self.sessions.plug(self.gun(number), ev)

    def unplug(self, number: int) -> None:
        self.sessions.unplug(self.gun(number))

    def set_ev_suspended(self, number: int, suspended: bool) -> None:
        self.sessions.set_ev_suspended(self.gun(number), suspended)

    def press_stop_button(self, number: int) -> None:
        """The driver stops the session at the pile (stop reason 2)."""
        self.sessions.press_stop_button(self.gun(number))

    def card_start(self, number: int) -> CmdResult:
        """A session started at the pile itself (card, free mode): session_tag 0."""
        return self.sessions.card_start(self.gun(number), self.clock.real())

    def set_available(self, number: int, available: bool) -> None:
        self.sessions.set_available(self.gun(number), available)

    def raise_fault(self, name: str, number: int | None = None) -> None:
        mask = fault_mask([name])
        for gun in self._guns_or_all(number):
            self.sessions.raise_fault(gun, mask, name, self.powered)

    def clear_fault(self, name: str, number: int | None = None) -> None:
        """The cause goes away; the bit stays latched until a reset command (6)."""
        mask = fault_mask([name])
        for gun in self._guns_or_all(number):
            self.sessions.clear_fault(gun, mask)

    def reset_faults(self, number: int | None = None) -> list[CmdResult]:
        """The reset button at the pile: the same as command 6 on each gun."""
        now = self.clock.real()
        return [
            self.sessions.command(gun, Command.RESET_FAULT, now)
            for gun in self._guns_or_all(number)
        ]

    def _guns_or_all(self, number: int | None) -> list[Gun]:
        return list(self.guns) if number is None else [self.gun(number)]

    # --- Modbus ---------------------------------------------------------------------------

    def read(self, table: str, address: int, count: int) -> list[int]:
        """`count` registers from `address`; addresses in no block read 0."""
        values = self._input_block if table == "input" else self._holding_block
        return read_registers(table, address, count, self.spec.guns, values)

    def holding_values(self, gun: Gun | None) -> dict[str, int | str]:
        if gun is None:
            return device_holding_values(self.watchdog)
        return gun_holding_values(gun)

    def input_values(self, gun: Gun | None) -> dict[str, int | str]:
        if gun is None:
            uptime_s = self.clock.sim() - self.boot_sim
            return device_input_values(self.spec, uptime_s, self.watchdog.heartbeat)
        return gun_input_values(self.spec, gun)

    def _input_block(self, gun_no: int) -> dict[str, int | str]:
        return self.input_values(self.guns[gun_no - 1] if gun_no else None)

    def _holding_block(self, gun_no: int) -> dict[str, int | str]:
        return self.holding_values(self.guns[gun_no - 1] if gun_no else None)

    def write_holding(self, address: int, values: list[int]) -> WriteError | None:
        """Apply a write of registers `address..`; refuse it whole (changing nothing) if any
        register is undocumented (02) or a value is out of range (03)."""
        fields = decode_holding_write(address, values, self.spec.guns, self._holding_block)
        if isinstance(fields, WriteError):
            return fields
        now = self.clock.real()
        commands: list[tuple[Gun, int]] = []
        for gun_no, name, value in fields:
            if gun_no == 0:
                if name == "watchdog_s":
                    self.watchdog.set_period(value, now)
                elif name == "fallback_power":
                    self.watchdog.fallback_power_w = value
                elif name == "heartbeat":
                    self.watchdog.beat(value, now)
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
            gun.last_cmd_result = self.sessions.command(gun, Command(value), self.clock.real())
        self.update_protocol()
        return None

    # --- time -----------------------------------------------------------------------------

    def update_protocol(self) -> None:
        """Real-time protocol behaviour: limits taking effect, watchdog, delayed starts."""
        if not self.powered:
            return
        now = self.clock.real()
        expired = self.watchdog.expired(now)
        fallback = self.watchdog.fallback_power_w if expired else None
        for gun in self.guns:
            target = obeyed_limit(gun.power_limit_w, fallback, self.spec.rated_power_w)
            follow_limit(gun, target, now, self.timing.limit_delay_s)
            self.sessions.fallback_stop(gun, expired, now)
            self.sessions.start_if_due(gun, now)

    def step(self, dt: float) -> None:
        """Advance physics by `dt` simulated seconds."""
        self.update_protocol()
        if not self.powered:
            return
        demands: dict[int, float] = {}
        for gun in self.guns:
            if gun.in_session:
                demands[gun.number], gun.state = self.electrical.demand(gun)
        demands = self.electrical.share(demands)
        for gun in self.guns:
            power = demands.get(gun.number, 0.0)
            if gun.in_session:
                stop = self.electrical.integrate(gun, power, dt)
                if stop is not None:
                    self.sessions.end_session(gun, stop)
            else:
                gun.zero_measurements()
            update_temperature(self.spec, gun, dt)
            self.electrical.update_voltages(gun)

    def input_phase_powers(self) -> list[float]:
        """What the pile draws from each grid phase (W), standby included."""
        if not self.powered:
            return [0.0, 0.0, 0.0]
        return self.electrical.input_phase_powers(self.guns)

    # --- reporting ------------------------------------------------------------------------

    def gun_id(self, gun: Gun) -> str:
        return self.sessions.gun_id(gun)

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
