"""Electric vehicles: battery, state of charge and how much power they accept.

AC: the on-board charger draws a flat current (its own maximum or what the pile offers)
until the battery reaches its target. DC: the battery accepts its maximum power up to
`taper_soc` (about 80 %), then less and less, down to a few per cent of it at 100 %.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

# Fraction of the DC maximum still accepted at 100 % SoC (the end of the taper).
_DC_TAPER_FLOOR = 0.05
# Battery voltage across the SoC range, as a fraction of nominal (a Li-ion pack's spread).
_V_EMPTY, _V_FULL = 0.88, 1.04


@dataclass(frozen=True)
class EVSpec:
    name: str = "EV"
    battery_kwh: float = 60.0
    start_soc: float = 30.0
    target_soc: float = 100.0
    ac_max_current_a: float = 32.0
    ac_phases: int = 3
    dc_max_power_w: float = 100_000.0
    taper_soc: float = 80.0
    battery_voltage_v: float = 400.0
    # Charger-to-battery efficiency; None = typical (AC 0.92, DC 0.96).
    efficiency: float | None = None

    def __post_init__(self) -> None:
        problems = validate_ev(self)
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "ev") -> EVSpec:
        """Build from TOML/JSON; unknown keys and bad values raise ValueError naming the key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(known))}"
            )
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.name == "name":
                if not isinstance(value, str) or not value:
                    raise ValueError(f"{where}.name: give a non-empty string")
            elif f.name == "ac_phases":
                if value not in (1, 3) or isinstance(value, bool):
                    raise ValueError(f"{where}.ac_phases: must be 1 or 3, got {value!r}")
            elif value is None and f.name == "efficiency":
                pass
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{where}.{f.name}: must be a number, got {value!r}")
            kwargs[f.name] = value
        try:
            return cls(**kwargs)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def validate_ev(spec: EVSpec) -> list[str]:
    problems = []
    if spec.battery_kwh <= 0 or spec.battery_kwh > 1000:
        problems.append("battery_kwh must be > 0 and <= 1000")
    if not 0 <= spec.start_soc <= 100:
        problems.append("start_soc must be within 0..100 (%)")
    if not 0 < spec.target_soc <= 100:
        problems.append("target_soc must be within 1..100 (%)")
    if spec.ac_max_current_a <= 0:
        problems.append("ac_max_current_a must be > 0 (A)")
    if spec.dc_max_power_w <= 0:
        problems.append("dc_max_power_w must be > 0 (W)")
    if not 0 < spec.taper_soc <= 100:
        problems.append("taper_soc must be within 1..100 (%)")
    if spec.battery_voltage_v <= 0:
        problems.append("battery_voltage_v must be > 0 (V)")
    if spec.efficiency is not None and not 0 < spec.efficiency <= 1:
        problems.append("efficiency must be within 0..1")
    return problems


@dataclass
class EV:
    """A vehicle plugged into a gun; its SoC moves with the energy it receives."""

    spec: EVSpec
    soc: float = 0.0
    suspended: bool = False  # the EV itself pauses (e.g. preconditioning): state 3

    @classmethod
    def arriving(cls, spec: EVSpec) -> EV:
        return cls(spec=spec, soc=float(spec.start_soc))

    @property
    def full(self) -> bool:
        return self.soc >= self.spec.target_soc - 1e-9

    def dc_acceptance_w(self) -> float:
        """Power the battery takes at its present SoC (DC charging)."""
        if self.full:
            return 0.0
        peak = self.spec.dc_max_power_w
        if self.soc <= self.spec.taper_soc:
            return peak
        span = max(100.0 - self.spec.taper_soc, 1e-6)
        fraction = 1.0 - (self.soc - self.spec.taper_soc) / span * (1.0 - _DC_TAPER_FLOOR)
        return peak * max(fraction, _DC_TAPER_FLOOR)

    def ac_current_a(self) -> float:
        """Current the on-board charger draws per phase when offered enough (flat)."""
        return 0.0 if self.full else self.spec.ac_max_current_a

    def battery_voltage_v(self) -> float:
        frac = _V_EMPTY + (_V_FULL - _V_EMPTY) * self.soc / 100.0
        return self.spec.battery_voltage_v * frac

    def efficiency(self, dc: bool) -> float:
        if self.spec.efficiency is not None:
            return self.spec.efficiency
        return 0.96 if dc else 0.92

    def seconds_to_target(self, power_w: float, dc: bool) -> float:
        """Seconds until the target SoC at a constant `power_w` (inf when not charging)."""
        if power_w <= 0:
            return float("inf")
        missing_wh = (self.spec.target_soc - self.soc) / 100.0 * self.spec.battery_kwh * 1000
        return max(missing_wh, 0.0) / (power_w * self.efficiency(dc)) * 3600.0

    def receive(self, energy_wh: float, dc: bool) -> None:
        stored = energy_wh * self.efficiency(dc)
        self.soc = min(100.0, self.soc + stored / (self.spec.battery_kwh * 10.0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_dict(),
            "soc": round(self.soc, 3),
            "suspended": self.suspended,
            "full": self.full,
        }
