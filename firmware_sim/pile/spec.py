"""What a pile is (its rating, phases, guns) and its protocol timing: fixed for its lifetime."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
