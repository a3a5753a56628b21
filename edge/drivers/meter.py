"""The transformer meter (the ARCM300T by default) through its register-map profile.

Load control lives on one number, S total, so it has its own short read (`read_load`) that
goes ahead of pile polls on a shared line. A reading a healthy meter cannot give — a phase
voltage above 1.5× nominal, S total above 3× the transformer's rating, energy going
backwards, 0xFFFF… — is a failed reading, not a load (spec/arcm300t.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.drivers.base import MeterReading
from edge.drivers.bus import URGENT, Bus
from edge.drivers.errors import InvalidValue
from edge.drivers.profile import Profile
from edge.drivers.regmap import RegisterMapDevice, Values


@dataclass(frozen=True)
class MeterInfo:
    unit: int
    profile: str
    model: str
    pt_ratio: float
    ct_ratio: float


class RegisterMapMeter(RegisterMapDevice):
    def __init__(self, bus: Bus, unit: int, profile: Profile, *, rated_kva: float | None = None,
                 nominal_voltage_v: float | None = None) -> None:
        if profile.kind != "meter":
            raise ValueError(f"profile {profile.id} describes a {profile.kind}, not a meter")
        super().__init__(bus, unit, profile)
        self.rated_kva = rated_kva
        self.nominal_voltage_v = float(nominal_voltage_v or profile.options.get("nominal_voltage_v", 230))
        self.info: MeterInfo | None = None

    async def identify(self) -> MeterInfo:
        v = await self.read_values("device", ("once",))
        pt = v.float("pt_ratio") or 1.0
        ct = v.float("ct_ratio") or 1.0
        if self.profile.options.get("scale_by_pt_ct"):
            self.set_ratios(pt, ct)
        self.info = MeterInfo(self.unit, self.profile.id, self.profile.model, pt, ct)
        return self.info

    def _check_s(self, v: Values) -> int:
        s = v.int("s_total_va")
        if s is None:
            raise InvalidValue(f"{self.bus.name} unit {self.unit}: S total unreadable "
                               f"(refused: {', '.join(v.invalid) or 'not available'})", unit=self.unit)
        if self.rated_kva and s > 3 * self.rated_kva * 1000:
            self.invalid_counts["s_total_va"] += 1
            raise InvalidValue(f"{self.bus.name} unit {self.unit}: S total {s} VA is over 3x the "
                               f"transformer's {self.rated_kva:g} kVA", unit=self.unit)
        return s

    async def read_load(self) -> int:
        if self.info is None:
            await self.identify()
        return self._check_s(await self.read_values("device", ("fast",), priority=URGENT))

    async def read_meter(self) -> MeterReading:
        if self.info is None:
            await self.identify()
        v = await self.read_values("device", ("cycle", "fast"))
        if v.invalid and any(n.startswith("energy_") for n in v.invalid):
            raise InvalidValue(f"{self.bus.name} unit {self.unit}: energy register refused "
                               f"({', '.join(v.invalid)})", unit=self.unit)
        s = self._check_s(v)
        volts = tuple(v.float(f"voltage_{p}_v") for p in "abc")
        for u in volts:
            if u is not None and u > 1.5 * self.nominal_voltage_v:
                raise InvalidValue(f"{self.bus.name} unit {self.unit}: phase voltage {u:g} V is over "
                                   f"1.5x nominal {self.nominal_voltage_v:g} V", unit=self.unit)
        return MeterReading(
            s_total_va=s,
            p_total_w=v.int("p_total_w"),
            q_total_var=v.int("q_total_var"),
            pf_total=v.float("pf_total"),
            voltages_v=volts,  # type: ignore[arg-type]
            currents_a=tuple(v.float(f"current_{p}_a") for p in "abc"),  # type: ignore[arg-type]
            frequency_hz=v.float("frequency_hz"),
            energy_import_wh=v.int("energy_import_wh"),
            values=dict(v.data),
        )
