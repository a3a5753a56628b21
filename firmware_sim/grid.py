"""The supply the station hangs on: phase voltages and frequency, shared by piles and meter.

Piles and the meter read the same voltages, so what a pile reports matches the meter.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# Voltage drop across the transformer at full rated load, as a fraction of nominal.
_SAG_AT_FULL_LOAD = 0.03


@dataclass
class Grid:
    nominal_v: float = 230.0
    nominal_hz: float = 50.0
    noise_pct: float = 0.3
    phase_v: list[float] = field(default_factory=list)
    frequency_hz: float = 0.0

    def __post_init__(self) -> None:
        if not self.phase_v:
            self.phase_v = [self.nominal_v] * 3
        if not self.frequency_hz:
            self.frequency_hz = self.nominal_hz

    def update(self, rng: random.Random, load_fraction: float) -> None:
        """New readings: a little noise around nominal, sagging slightly with load."""
        sag = 1.0 - _SAG_AT_FULL_LOAD * min(max(load_fraction, 0.0), 1.5)
        sigma = self.noise_pct / 100.0
        self.phase_v = [
            self.nominal_v * sag * (1.0 + max(-3 * sigma, min(3 * sigma, rng.gauss(0, sigma))))
            for _ in range(3)
        ]
        self.frequency_hz = self.nominal_hz + max(-0.05, min(0.05, rng.gauss(0, 0.015)))
