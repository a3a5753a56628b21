"""One gun as the pile keeps it: the record every part of the pile reads and writes, and
the values its state, stop reason, command result and fault registers take."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from ..errors import SimError
from ..ev import EV


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


class CmdResult(IntEnum):
    NONE = 0
    ACCEPTED = 1
    NOT_PLUGGED = 2
    FAULTED = 3
    BUSY = 4
    RESERVED_OTHER = 5
    UNAVAILABLE = 6


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


def fault_mask(names: list[str]) -> int:
    mask = 0
    for name in names:
        if name not in FAULT_BITS:
            raise SimError(400, f"unknown fault {name!r}; known faults: {', '.join(FAULT_BITS)}")
        mask |= 1 << FAULT_BITS[name]
    return mask


def fault_names(mask: int) -> list[str]:
    return [name for name, bit in FAULT_BITS.items() if mask & (1 << bit)]


def has_fault(mask: int, name: str) -> bool:
    return bool(mask & (1 << FAULT_BITS[name]))


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

    def reset_volatile(self, rated_power_w: int) -> None:
        """Power-on: settings written over Modbus go back to their defaults; lifetime
        counters, the last session's figures and the EV stay."""
        self.power_limit_w = rated_power_w
        self.limit_active_w = rated_power_w
        self.pending_limit = None
        self.pending_start = None
        self.session_tag_reg = 0
        self.energy_limit_wh = 0
        self.time_limit_s = 0
        self.reserved_tag = None
        self.last_cmd_result = CmdResult.NONE
        self.paused_by_fallback_since = None
        self.faults = self.fault_causes  # a power cycle resets latches whose cause is gone

    def zero_measurements(self) -> None:
        """No current flows: power and currents read 0 (voltages follow the supply)."""
        self.power_w = 0.0
        self.currents_a = [0.0, 0.0, 0.0]
