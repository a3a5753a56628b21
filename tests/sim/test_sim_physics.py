"""The electrical and thermal models on their own: a Gun record, a grid, no registers, no
session machine and no clock."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim.ev import EV, EVSpec
from firmware_sim.grid import Grid
from firmware_sim.pile.electrical import (
    INPUT_OVERVOLTAGE_FACTOR,
    INPUT_UNDERVOLTAGE_FACTOR,
    ElectricalModel,
)
from firmware_sim.pile.gun import Gun, GunState, StopReason, fault_mask
from firmware_sim.pile.spec import PileSpec
from firmware_sim.pile.thermal import (
    OVERTEMP_READING_C,
    TEMPERATURE_TAU_S,
    steady_temperature_c,
    temperature_after,
    update_temperature,
)

AC7_L2 = PileSpec(unit=1, id="AC7", current="AC", guns=1, rated_power_w=7000, phases=1,
                  max_current_a=32, min_current_a=6, supply_phase=2, standby_w=12)
AC22 = PileSpec(unit=2, id="AC22", current="AC", guns=2, rated_power_w=22000, phases=3,
                max_current_a=32, min_current_a=6, standby_w=15)
DC120 = PileSpec(unit=3, id="DC120", current="DC", guns=2, rated_power_w=120000, phases=0,
                 max_current_a=300, max_total_power_w=120000, efficiency=0.95, standby_w=80)


def grid() -> Grid:
    return Grid(230.0, 50.0, 0.0, phase_v=[230.0, 220.0, 240.0])


def gun_with(spec: PileSpec, ev_spec: EVSpec | None = None, limit_w: int | None = None) -> Gun:
    limit = spec.rated_power_w if limit_w is None else limit_w
    gun = Gun(number=1, power_limit_w=limit, limit_active_w=limit, temperature_c=spec.ambient_c)
    if ev_spec is not None:
        gun.ev = EV.arriving(ev_spec)
        gun.in_session = True
    return gun


# --- electrical -------------------------------------------------------------------------------


def test_single_phase_pile_draws_on_its_supply_phase() -> None:
    model = ElectricalModel(AC7_L2, grid())
    gun = gun_with(AC7_L2, EVSpec(ac_phases=3, ac_max_current_a=16))
    power, state = model.demand(gun)
    # 16 A at the L2 voltage; the 3-phase EV can use one phase only
    assert (power, state) == (pytest.approx(16 * 220.0), GunState.CHARGING)
    model.set_measurements(gun, power)
    assert gun.currents_a == [pytest.approx(16.0), 0.0, 0.0]  # the pile's own terminal l1
    model.update_voltages(gun)
    assert gun.voltages_v == [220.0, 0.0, 0.0]
    assert model.input_phase_powers([gun]) == [0.0, pytest.approx(12 + 16 * 220.0), 0.0]
    limited = gun_with(AC7_L2, EVSpec(ac_phases=1, ac_max_current_a=32))
    assert model.demand(limited)[0] == pytest.approx(7000.0)  # the rated 7 kW, not 32 A


def test_limit_sets_the_offered_current_and_below_minimum_pauses() -> None:
    model = ElectricalModel(AC22, grid())
    ev_spec = EVSpec(ac_phases=3, ac_max_current_a=32)
    power, state = model.demand(gun_with(AC22, ev_spec, limit_w=9000))
    assert (power, state) == (pytest.approx(9000), GunState.CHARGING)
    # 6 A x 3 phases x the mean 230 V is 4140 W: just below it, the gun pauses (state 4)
    assert model.demand(gun_with(AC22, ev_spec, limit_w=4139)) == (0.0, GunState.SUSPENDED_EVSE)
    assert model.demand(gun_with(AC22, ev_spec, limit_w=0)) == (0.0, GunState.SUSPENDED_EVSE)


def test_ev_that_pauses_or_is_full_shows_state_3() -> None:
    model = ElectricalModel(AC22, grid())
    gun = gun_with(AC22, EVSpec())
    assert gun.ev is not None
    gun.ev.suspended = True
    assert model.demand(gun) == (0.0, GunState.SUSPENDED_EV)
    gun.ev.suspended, gun.ev.soc = False, 100.0
    assert model.demand(gun) == (0.0, GunState.SUSPENDED_EV)


def test_dc_power_is_held_by_the_current_limit_at_the_battery_voltage() -> None:
    spec = PileSpec(unit=3, id="DC", current="DC", guns=1, rated_power_w=200000, phases=0,
                    max_current_a=100)
    model = ElectricalModel(spec, grid())
    gun = gun_with(spec, EVSpec(dc_max_power_w=150000, battery_voltage_v=400, start_soc=50))
    assert gun.ev is not None
    volts = gun.ev.battery_voltage_v()
    power, _ = model.demand(gun)
    assert power == pytest.approx(100 * volts)
    model.set_measurements(gun, power)
    model.update_voltages(gun)
    assert gun.currents_a == [pytest.approx(100.0), 0.0, 0.0]
    assert gun.voltages_v == [volts, 0.0, 0.0]


def test_shared_cabinet_splits_the_cap_in_proportion() -> None:
    model = ElectricalModel(DC120, grid())
    assert model.share({1: 90000.0, 2: 60000.0}) == {1: 72000.0, 2: 48000.0}
    assert model.share({1: 50000.0, 2: 60000.0}) == {1: 50000.0, 2: 60000.0}
    assert ElectricalModel(AC22, grid()).share({1: 22000.0, 2: 22000.0}) == {1: 22000.0,
                                                                             2: 22000.0}


def test_dc_grid_draw_counts_the_converter_losses_on_all_phases() -> None:
    model = ElectricalModel(DC120, grid())
    gun = gun_with(DC120, EVSpec())
    gun.power_w = 95000.0
    draw = model.input_phase_powers([gun])
    assert draw == [pytest.approx(80 / 3 + 100000 / 3)] * 3


def test_input_voltage_faults_show_in_the_voltages() -> None:
    model = ElectricalModel(AC22, grid())
    gun = gun_with(AC22)
    gun.fault_causes = fault_mask(["input_overvoltage"])
    model.update_voltages(gun)
    assert gun.voltages_v == [v * INPUT_OVERVOLTAGE_FACTOR for v in (230.0, 220.0, 240.0)]
    gun.fault_causes = fault_mask(["input_undervoltage"])
    model.update_voltages(gun)
    assert gun.voltages_v == [v * INPUT_UNDERVOLTAGE_FACTOR for v in (230.0, 220.0, 240.0)]


def test_integrate_stops_at_the_time_limit_exactly() -> None:
    model = ElectricalModel(AC22, grid())
    gun = gun_with(AC22, EVSpec(battery_kwh=100, start_soc=10))
    gun.time_limit_s = 90
    assert model.integrate(gun, 11000.0, 60.0) is None
    assert model.integrate(gun, 11000.0, 60.0) is StopReason.LIMIT
    assert gun.session_seconds == 90.0
    assert gun.session_energy_wh == pytest.approx(11000 * 90 / 3600)


def test_integrate_stops_when_the_ev_reaches_its_target() -> None:
    model = ElectricalModel(DC120, grid())
    gun = gun_with(DC120, EVSpec(battery_kwh=10, start_soc=99, target_soc=100, efficiency=1.0))
    assert gun.ev is not None
    # 100 Wh missing at 50 kW: 7.2 s
    assert model.integrate(gun, 50000.0, 10.0) is StopReason.EV_FULL
    assert gun.session_seconds == pytest.approx(7.2)
    assert gun.ev.soc == 100.0
    assert model.integrate(gun, 50000.0, 10.0) is StopReason.EV_FULL  # already full


@settings(max_examples=300, deadline=None)
@given(
    power=st.floats(0.0, 200_000.0),
    limit_wh=st.integers(1, 50_000),
    steps=st.lists(st.floats(0.01, 600.0), min_size=1, max_size=30),
)
def test_energy_limit_is_met_exactly_never_passed(power: float, limit_wh: int,
                                                  steps: list[float]) -> None:
    model = ElectricalModel(DC120, grid())
    gun = gun_with(DC120, EVSpec(battery_kwh=1000, start_soc=0, dc_max_power_w=200_000))
    gun.energy_limit_wh = limit_wh
    for dt in steps:
        before = gun.session_energy_wh
        reason = model.integrate(gun, power, dt)
        assert gun.energy_total_wh == pytest.approx(gun.session_energy_wh)
        assert gun.session_energy_wh >= before
        if reason is not None:
            assert reason is StopReason.LIMIT
            assert gun.session_energy_wh == pytest.approx(limit_wh)
            assert int(gun.session_energy_wh) == limit_wh  # the register shows the limit
            return
        assert gun.session_energy_wh < limit_wh


# --- thermal ----------------------------------------------------------------------------------


def test_temperature_settles_at_ambient_plus_the_load_share_of_the_rise() -> None:
    spec = PileSpec(unit=1, id="T", current="AC", guns=1, rated_power_w=10000,
                    ambient_c=30.0, full_load_rise_c=20.0)
    assert steady_temperature_c(spec, 0.0) == 30.0
    assert steady_temperature_c(spec, 5000.0) == 40.0
    assert steady_temperature_c(spec, 10000.0) == 50.0
    temp = 30.0
    for _ in range(100):
        temp = temperature_after(spec, temp, 10000.0, 60.0)
    assert temp == pytest.approx(50.0)


def test_temperature_lags_with_the_time_constant() -> None:
    spec = PileSpec(unit=1, id="T", current="AC", guns=1, rated_power_w=10000,
                    ambient_c=25.0, full_load_rise_c=20.0)
    after_tau = temperature_after(spec, 25.0, 10000.0, TEMPERATURE_TAU_S)
    assert after_tau == pytest.approx(25.0 + 20.0 * (1 - math.exp(-1)))
    assert temperature_after(spec, 45.0, 0.0, 0.0) == 45.0  # no time, no change


def test_pile_without_rating_stays_at_ambient() -> None:
    spec = PileSpec(unit=5, id="Z", current="DC", guns=1, rated_power_w=0, phases=0)
    assert steady_temperature_c(spec, 5000.0) == spec.ambient_c


def test_over_temperature_cause_shows_a_hot_reading_until_it_goes() -> None:
    spec = PileSpec(unit=1, id="T", current="AC", guns=1, rated_power_w=7000)
    gun = gun_with(spec)
    gun.fault_causes = fault_mask(["over_temperature"])
    update_temperature(spec, gun, 1.0)
    assert gun.temperature_c == OVERTEMP_READING_C
    gun.fault_causes = 0
    update_temperature(spec, gun, TEMPERATURE_TAU_S)
    assert spec.ambient_c < gun.temperature_c < OVERTEMP_READING_C  # cools with the lag


@settings(max_examples=300, deadline=None)
@given(
    start=st.floats(-40.0, 120.0),
    power=st.floats(0.0, 7000.0),
    a=st.floats(0.0, 3600.0),
    b=st.floats(0.0, 3600.0),
)
def test_temperature_moves_toward_its_target_whatever_the_step(start: float, power: float,
                                                               a: float, b: float) -> None:
    spec = PileSpec(unit=1, id="T", current="AC", guns=1, rated_power_w=7000)
    target = steady_temperature_c(spec, power)
    one = temperature_after(spec, start, power, a)
    lo, hi = min(start, target), max(start, target)
    assert lo - 1e-9 <= one <= hi + 1e-9  # never overshoots
    two_steps = temperature_after(spec, one, power, b)
    assert two_steps == pytest.approx(temperature_after(spec, start, power, a + b), abs=1e-9)
