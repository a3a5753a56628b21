"""What a device can do, as small capabilities, and what it reports, as plain dataclasses.

A driver implements the capabilities its hardware has; the station loop asks for a
capability where it needs one (`isinstance(pile, LimitsPower)`), so load control and
sessions never know which wire or which vendor a pile is on (evcc's api/api.go shape).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from edge.gunstate import GunState


class CommandResult(StrEnum):
    ACCEPTED = "accepted"
    NOT_PLUGGED = "not_plugged"
    FAULTED = "faulted"
    BUSY = "busy"
    RESERVED = "reserved"
    UNAVAILABLE = "unavailable"
    NONE = "none"  # the pile reports no result (yet)
    SENT = "sent"  # written; the pile has no result register to confirm it

    @property
    def ok(self) -> bool:
        return self in (CommandResult.ACCEPTED, CommandResult.SENT)


@dataclass(frozen=True)
class PileInfo:
    unit: int
    profile: str
    gun_count: int
    current: str  # "AC" or "DC"
    phases: int
    rated_power_w: int
    max_current_a: float | None = None
    min_current_a: float | None = None
    serial: str = ""
    firmware: str = ""

    def min_power_w(self, voltage_v: float = 230.0) -> int:
        """The lowest power a running session accepts: below it an AC pile pauses (IEC 61851)."""
        if self.current != "AC" or not self.min_current_a:
            return 0
        return int(round(self.min_current_a * voltage_v * max(1, self.phases)))


@dataclass(frozen=True)
class GunReading:
    """One gun as read in one poll. A value the pile did not give, or gave absurdly, is None."""

    gun: int
    state: GunState
    faults: frozenset[str] = frozenset()
    voltage_v: float | None = None
    current_a: float | None = None
    power_w: int | None = None
    energy_total_wh: int | None = None  # the billing register; None: not trustworthy this time
    session_energy_wh: int | None = None
    session_seconds: int | None = None
    session_counter: int | None = None
    session_tag: int | None = None
    temperature_c: float | None = None
    soc_pct: int | None = None
    power_limit_active_w: int | None = None
    last_cmd_result: str | None = None
    stop_reason: str | None = None
    invalid: tuple[str, ...] = ()  # reads refused this time as absurd


@dataclass(frozen=True)
class MeterReading:
    """The transformer meter, primary values."""

    s_total_va: int
    p_total_w: int | None = None
    q_total_var: int | None = None
    pf_total: float | None = None
    voltages_v: tuple[float | None, float | None, float | None] = (None, None, None)
    currents_a: tuple[float | None, float | None, float | None] = (None, None, None)
    frequency_hz: float | None = None
    energy_import_wh: int | None = None
    values: dict[str, object] = field(default_factory=dict)

    def load_pct(self, rated_kva: float) -> float:
        from edge.loadctl import load_pct  # computed in one place

        return load_pct(self.s_total_va, rated_kva)


@runtime_checkable
class ReadsGuns(Protocol):
    async def read_guns(self) -> list[GunReading]: ...


@runtime_checkable
class LimitsPower(Protocol):
    async def set_power_limit(self, gun: int, watts: int) -> None: ...


@runtime_checkable
class StartsStops(Protocol):
    async def start(self, gun: int, *, tag: int, energy_limit_wh: int = 0, time_limit_s: int = 0,
                    power_limit_w: int | None = None) -> CommandResult: ...

    async def stop(self, gun: int) -> CommandResult: ...


@runtime_checkable
class Reserves(Protocol):
    async def reserve(self, gun: int, tag: int) -> CommandResult: ...

    async def cancel_reservation(self, gun: int) -> CommandResult: ...


@runtime_checkable
class ResetsFaults(Protocol):
    async def reset_fault(self, gun: int) -> CommandResult: ...


@runtime_checkable
class HasWatchdog(Protocol):
    async def configure_watchdog(self, timeout_s: int, fallback_power_w: int) -> None: ...

    async def heartbeat(self, value: int) -> None: ...


@runtime_checkable
class ReadsMeter(Protocol):
    async def read_load(self) -> int:
        """S total in VA, read as fast as the line allows (the load-control input)."""

    async def read_meter(self) -> MeterReading: ...
