"""The ARCM300T transformer meter per spec/arcm300t.md: a pure model, no I/O.

The station tells it, every step, what each phase draws (active power); the meter derives
apparent and reactive power at the scenario's power factor, currents from the grid voltages,
and integrates import energy. Readings are primary values unless PT/CT ratios other than 1
are written, in which case they are divided by them, as a meter on instrument transformers
reports secondary values.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from .grid import Grid
from .pile import WriteError
from .registers import METER_BLOCKS, METER_MAIN, METER_MODEL

# Alarm status bits this simulator sets (Acrel documents none for this model).
ALARM_RESIDUAL_CURRENT = 1 << 0
ALARM_TEMPERATURE = 1 << 1  # any of N, A, B, C
RESIDUAL_ALARM_MA = 300
TEMPERATURE_ALARM_C = 80.0

_CONFIG_RANGES: dict[str, tuple[int, int]] = {
    "unit_id": (1, 247),
    "baud_code": (1, 4),
    "pt_ratio": (1, 65535),
    "ct_ratio": (1, 65535),
}


@dataclass(frozen=True)
class MeterSpec:
    unit: int = 10
    rated_kva: float = 160.0  # the transformer it watches
    power_factor: float = 0.95
    residual_current_ma: float = 8.0  # normal leakage
    temperature_c: float = 32.0  # cabinet/busbar temperature, normal
    baud_code: int = 4  # 9600

    def summary(self) -> dict[str, Any]:
        return {"unit": self.unit, "kind": "meter", "model": METER_MODEL, "rated_kva": self.rated_kva}


class Meter:
    def __init__(self, spec: MeterSpec, grid: Grid, rng: random.Random | None = None) -> None:
        self.spec = spec
        self.grid = grid
        self.rng = rng or random.Random(0)
        self.config = {
            "unit_id": spec.unit,
            "baud_code": spec.baud_code,
            "parity_stop": 0,
            "pt_ratio": 1,
            "ct_ratio": 1,
        }
        self.power_factor = spec.power_factor
        self.phase_p = [0.0, 0.0, 0.0]
        self.import_wh = 0.0
        self.import_varh = 0.0
        self.residual_current_ma = spec.residual_current_ma
        self.temperatures_c = {"n": spec.temperature_c, "a": spec.temperature_c,
                               "b": spec.temperature_c, "c": spec.temperature_c}
        self._raised: dict[str, float] = {}  # conditions a scenario forces (key -> value)

    # --- physics --------------------------------------------------------------------------

    def step(self, phase_p: list[float], dt: float) -> None:
        """The load over the last `dt` simulated seconds."""
        self.phase_p = [max(0.0, p) for p in phase_p]
        total = sum(self.phase_p)
        self.import_wh += total * dt / 3600.0
        self.import_varh += total * self._q_per_p() * dt / 3600.0
        # Busbar temperature follows the load a little; leakage wanders around normal.
        load = self.load_fraction
        for key in self.temperatures_c:
            base = self.spec.temperature_c + 15.0 * load
            self.temperatures_c[key] = self._raised.get(f"temperature_{key}", base)
        self.residual_current_ma = self._raised.get(
            "residual_current_ma",
            max(0.0, self.spec.residual_current_ma + self.rng.gauss(0, 0.6)),
        )

    def _q_per_p(self) -> float:
        pf = min(max(self.power_factor, 0.05), 1.0)
        return math.tan(math.acos(pf))

    @property
    def p_total_w(self) -> float:
        return sum(self.phase_p)

    @property
    def s_total_va(self) -> float:
        return self.p_total_w / min(max(self.power_factor, 0.05), 1.0)

    @property
    def load_fraction(self) -> float:
        return self.s_total_va / (self.spec.rated_kva * 1000.0)

    @property
    def load_pct(self) -> float:
        return self.load_fraction * 100.0

    def set_conditions(
        self,
        residual_current_ma: float | None = None,
        temperature_c: float | None = None,
        power_factor: float | None = None,
        clear: bool = False,
    ) -> None:
        """Force abnormal readings (a scenario's leakage or hot busbar), or go back to normal."""
        if clear:
            self._raised.clear()
            self.power_factor = self.spec.power_factor
        if residual_current_ma is not None:
            self._raised["residual_current_ma"] = float(residual_current_ma)
            self.residual_current_ma = float(residual_current_ma)
        if temperature_c is not None:
            for key in self.temperatures_c:
                self._raised[f"temperature_{key}"] = float(temperature_c)
                self.temperatures_c[key] = float(temperature_c)
        if power_factor is not None:
            self.power_factor = float(power_factor)

    # --- registers ------------------------------------------------------------------------

    def values(self) -> dict[str, int]:
        pt = self.config["pt_ratio"]
        ct = self.config["ct_ratio"]
        pf = min(max(self.power_factor, 0.05), 1.0)
        volts = self.grid.phase_v
        p = self.phase_p
        s = [pi / pf for pi in p]
        q = [math.sqrt(max(si * si - pi * pi, 0.0)) for si, pi in zip(s, p, strict=True)]
        amps = [si / max(v, 1.0) for si, v in zip(s, volts, strict=True)]
        line = [
            _line_voltage(volts[0], volts[1]),
            _line_voltage(volts[1], volts[2]),
            _line_voltage(volts[2], volts[0]),
        ]
        power_div = pt * ct  # secondary-side reading = primary / (PT x CT)
        energy_div = pt * ct
        out: dict[str, int] = dict(self.config)
        out.update(
            {
                "n_temperature": round(self.temperatures_c["n"] * 10),
                "ua": round(volts[0] * 10 / pt),
                "ub": round(volts[1] * 10 / pt),
                "uc": round(volts[2] * 10 / pt),
                "uab": round(line[0] * 10 / pt),
                "ubc": round(line[1] * 10 / pt),
                "uca": round(line[2] * 10 / pt),
                "ia": round(amps[0] * 100 / ct),
                "ib": round(amps[1] * 100 / ct),
                "ic": round(amps[2] * 100 / ct),
                "pa": round(p[0] / power_div),
                "pb": round(p[1] / power_div),
                "pc": round(p[2] / power_div),
                "p_total": round(sum(p) / power_div),
                "qa": round(q[0] / power_div),
                "qb": round(q[1] / power_div),
                "qc": round(q[2] / power_div),
                "q_total": round(sum(q) / power_div),
                "sa": round(s[0] / power_div),
                "sb": round(s[1] / power_div),
                "sc": round(s[2] / power_div),
                "s_total": round(sum(s) / power_div),
                "pfa": round(pf * 1000),
                "pfb": round(pf * 1000),
                "pfc": round(pf * 1000),
                "pf_total": round(pf * 1000),
                "di_state": 0,
                "frequency": round(self.grid.frequency_hz * 100),
                # 0.01 kWh units: Wh / 10
                "combined_energy": int(self.import_wh / 10 / energy_div),
                "import_energy": int(self.import_wh / 10 / energy_div),
                "export_energy": 0,
                "import_reactive_energy": int(self.import_varh / 10 / energy_div),
                "export_reactive_energy": 0,
                "temperature_a": round(self.temperatures_c["a"] * 10),
                "temperature_b": round(self.temperatures_c["b"] * 10),
                "temperature_c": round(self.temperatures_c["c"] * 10),
                "residual_current": min(round(self.residual_current_ma), 0xFFFE),
                "alarm_status": self._alarm_bits(),
            }
        )
        return out

    def _alarm_bits(self) -> int:
        bits = 0
        if self.residual_current_ma >= RESIDUAL_ALARM_MA:
            bits |= ALARM_RESIDUAL_CURRENT
        if max(self.temperatures_c.values()) >= TEMPERATURE_ALARM_C:
            bits |= ALARM_TEMPERATURE
        return bits

    def read(self, address: int, count: int) -> list[int]:
        out = [0] * count
        values = self.values()
        for block in METER_BLOCKS:
            lo, hi = max(address, block.base), min(address + count, block.base + block.span)
            if lo < hi:
                image = block.encode(values)
                out[lo - address : hi - address] = image[lo - block.base : hi - block.base]
        return out

    def write(self, address: int, values: list[int]) -> WriteError | None:
        """FC16 to the rw configuration registers; anything else is refused whole."""
        staged = dict(self.config)
        for i, value in enumerate(values):
            found = METER_MAIN.at(address + i)
            if found is None or not found[0].writable:
                return WriteError.ILLEGAL_ADDRESS
            staged[found[0].name] = value
        for name, value in staged.items():
            if name == "parity_stop":
                if (value >> 8) > 2 or (value & 0xFF) > 1:
                    return WriteError.ILLEGAL_VALUE
                continue
            lo, hi = _CONFIG_RANGES[name]
            if not lo <= value <= hi:
                return WriteError.ILLEGAL_VALUE
        # Stored and reported; the simulated meter keeps answering at its configured unit
        # and speed (changing those on a live simulated bus would only strand the tests).
        self.config = staged
        return None

    def snapshot(self) -> dict[str, Any]:
        values = self.values()
        return {
            **self.spec.summary(),
            "load_pct": round(self.load_pct, 2),
            "p_total_w": round(self.p_total_w, 1),
            "s_total_va": round(self.s_total_va, 1),
            "power_factor": self.power_factor,
            "phase_p_w": [round(p, 1) for p in self.phase_p],
            "voltages_v": [round(v, 2) for v in self.grid.phase_v],
            "frequency_hz": round(self.grid.frequency_hz, 3),
            "import_energy_kwh": round(self.import_wh / 1000, 3),
            "residual_current_ma": round(self.residual_current_ma, 1),
            "temperatures_c": {k: round(v, 1) for k, v in self.temperatures_c.items()},
            "config": dict(self.config),
            "registers": values,
        }


def _line_voltage(ua: float, ub: float) -> float:
    # two phasors 120 degrees apart: |Ua - Ub| = sqrt(Ua^2 + Ub^2 + Ua*Ub)
    return math.sqrt(ua * ua + ub * ub + ua * ub)
