"""The thermal model of a gun: its temperature follows the load with a first-order lag
(cable and contactors), towards ambient + `full_load_rise_c` x (power / rated power).

The pile does not derate on temperature: the model only feeds the temperature register.
While an over_temperature fault's cause is present the reading jumps to a fixed hot value.
"""

from __future__ import annotations

import math

from .gun import Gun, has_fault
from .spec import PileSpec

OVERTEMP_READING_C = 88.0
TEMPERATURE_TAU_S = 180.0  # thermal time constant of a gun's cable/contactors


def steady_temperature_c(spec: PileSpec, power_w: float) -> float:
    """Where the temperature settles at a constant `power_w`."""
    load = power_w / spec.rated_power_w if spec.rated_power_w else 0.0
    return spec.ambient_c + spec.full_load_rise_c * load


def temperature_after(spec: PileSpec, temperature_c: float, power_w: float, dt: float) -> float:
    """The temperature `dt` simulated seconds on, at a constant `power_w`."""
    target = steady_temperature_c(spec, power_w)
    return temperature_c + (target - temperature_c) * (1 - math.exp(-dt / TEMPERATURE_TAU_S))


def update_temperature(spec: PileSpec, gun: Gun, dt: float) -> None:
    if has_fault(gun.fault_causes, "over_temperature"):
        gun.temperature_c = OVERTEMP_READING_C
        return
    gun.temperature_c = temperature_after(spec, gun.temperature_c, gun.power_w, dt)
