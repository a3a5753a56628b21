"""The electrical model of a pile: how much power a gun delivers, the energy it counts, the
voltages and currents it measures, and what the pile draws from each grid phase."""

from __future__ import annotations

import math

from ..grid import Grid
from .gun import Gun, GunState, StopReason, has_fault
from .spec import PileSpec

# How an input voltage fault shows in the measured voltages while its cause is present.
INPUT_OVERVOLTAGE_FACTOR = 1.18
INPUT_UNDERVOLTAGE_FACTOR = 0.78


class ElectricalModel:
    def __init__(self, spec: PileSpec, grid: Grid) -> None:
        self.spec = spec
        self.grid = grid

    # --- power ----------------------------------------------------------------------------

    def demand(self, gun: Gun) -> tuple[float, GunState]:
        """Power a gun in session would deliver now, and the state that shows: 2 charging,
        3 the EV takes nothing, 4 the pile's limit (or the minimum AC current) holds it."""
        ev = gun.ev
        assert ev is not None
        limit = gun.limit_active_w
        if ev.suspended:
            return 0.0, GunState.SUSPENDED_EV
        if limit <= 0:
            return 0.0, GunState.SUSPENDED_EVSE
        if self.spec.dc:
            volts = ev.battery_voltage_v()
            power = min(limit, ev.dc_acceptance_w(), self.spec.max_current_a * volts)
        else:
            phases = self.phases_used(gun)
            volts = self.supply_voltage(phases)
            offered = min(limit / (volts * phases), self.spec.max_current_a)
            if offered < self.spec.min_current_a:
                # IEC 61851: below the minimum current the EVSE pauses, it does not go lower
                return 0.0, GunState.SUSPENDED_EVSE
            power = min(offered, ev.ac_current_a()) * volts * phases
        state = GunState.CHARGING if power > 0 else GunState.SUSPENDED_EV
        return max(power, 0.0), state

    def share(self, demands: dict[int, float]) -> dict[int, float]:
        """Shared power modules (max_total_power_w): every gun gets its share of the cap."""
        cap = self.spec.max_total_power_w
        total = sum(demands.values())
        if cap and total > cap:
            return {n: p * cap / total for n, p in demands.items()}
        return demands

    def integrate(self, gun: Gun, power: float, dt: float) -> StopReason | None:
        """Deliver `power` for `dt` simulated seconds; the reason the session is to end now,
        if it is (EV full, or its energy or time limit reached)."""
        ev = gun.ev
        assert ev is not None
        dc = self.spec.dc
        if ev.full:
            return StopReason.EV_FULL
        # The first threshold this step would cross: stop exactly there, not a step after it.
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
        self.set_measurements(gun, power)
        if t_stop > dt:
            return None
        if why == "full":
            ev.soc = max(ev.soc, ev.spec.target_soc)
            return StopReason.EV_FULL
        if why == "time":
            gun.session_seconds = max(gun.session_seconds, float(gun.time_limit_s))
        return StopReason.LIMIT

    # --- measurements ---------------------------------------------------------------------

    def phases_used(self, gun: Gun) -> int:
        if self.spec.phases == 1 or gun.ev is None:
            return 1
        return min(self.spec.phases, gun.ev.spec.ac_phases)

    def phase_indexes(self, gun: Gun) -> list[int]:
        """The grid phases (0-based) an AC gun draws on now."""
        if self.spec.phases == 1:
            return [self.spec.supply_phase - 1]
        return list(range(self.phases_used(gun)))

    def supply_voltage(self, phases: int) -> float:
        idx = [self.spec.supply_phase - 1] if self.spec.phases == 1 else list(range(phases))
        return sum(self.grid.phase_v[i] for i in idx) / len(idx)

    def set_measurements(self, gun: Gun, power: float) -> None:
        gun.power_w = power
        gun.currents_a = [0.0, 0.0, 0.0]
        if power <= 0:
            return
        if self.spec.dc:
            assert gun.ev is not None
            gun.currents_a[0] = power / gun.ev.battery_voltage_v()
            return
        idx = self.phase_indexes(gun)
        per_phase = power / len(idx)
        for slot, phase in enumerate(idx):
            # the register slots l1..l3 follow the pile's own terminals
            register_slot = 0 if self.spec.phases == 1 else slot
            gun.currents_a[register_slot] = per_phase / self.grid.phase_v[phase]

    def update_voltages(self, gun: Gun) -> None:
        if self.spec.dc:
            charging = gun.in_session and gun.power_w > 0 and gun.ev is not None
            gun.voltages_v = [gun.ev.battery_voltage_v() if charging else 0.0, 0.0, 0.0]
            return
        factor = 1.0
        if has_fault(gun.fault_causes, "input_overvoltage"):
            factor = INPUT_OVERVOLTAGE_FACTOR
        elif has_fault(gun.fault_causes, "input_undervoltage"):
            factor = INPUT_UNDERVOLTAGE_FACTOR
        if self.spec.phases == 1:
            gun.voltages_v = [self.grid.phase_v[self.spec.supply_phase - 1] * factor, 0.0, 0.0]
        else:
            gun.voltages_v = [v * factor for v in self.grid.phase_v]

    # --- the grid side --------------------------------------------------------------------

    def input_phase_powers(self, guns: list[Gun]) -> list[float]:
        """What a powered pile draws from each grid phase (W), standby included."""
        draw = [0.0, 0.0, 0.0]
        standby_phases = [self.spec.supply_phase - 1] if self.spec.phases == 1 else [0, 1, 2]
        for i in standby_phases:
            draw[i] += self.spec.standby_w / len(standby_phases)
        for gun in guns:
            if gun.power_w <= 0:
                continue
            grid_w = gun.power_w / self.spec.efficiency
            idx = [0, 1, 2] if self.spec.dc else self.phase_indexes(gun)
            for i in idx:
                draw[i] += grid_w / len(idx)
        return draw
