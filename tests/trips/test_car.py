"""The car model: consumption by speed and charge time against hand calculations."""

from __future__ import annotations

import math

import pytest

from cloud.trips.car import Car, CarError


def car(**kw: object) -> Car:
    base = {"battery_wh": 60_000, "consumption": ((60, 120.0), (120, 200.0)), "max_dc_kw": 100.0,
            "charge_efficiency": 1.0}
    base.update(kw)
    return Car(**base)  # type: ignore[arg-type]


def test_consumption_interpolates_and_holds_at_the_ends() -> None:
    c = car()
    assert c.wh_per_km(90) == pytest.approx(160.0)
    assert c.wh_per_km(30) == 120.0 and c.wh_per_km(150) == 200.0
    # 10 km in 400 s is 90 km/h: 10 × 160 Wh
    assert c.drive_wh(10_000, 400) == pytest.approx(1600.0)


def test_constant_power_below_the_taper_is_energy_over_power() -> None:
    # 10 % → 80 % of 60 kWh = 42 kWh at a 50 kW gun (the car takes 100): 0.84 h
    assert car().charge_seconds(0.1, 0.8, 50) == pytest.approx(0.84 * 3600)


def test_taper_above_80_percent_integrates_the_curve() -> None:
    # the car's power falls linearly from 100 kW at 80 % to 20 kW at 100 % (400 kW per unit SoC);
    # on a 150 kW gun: ∫ 60 / (100 − 400 (s − 0.8)) ds = 60/400 · ln(100/20) h
    assert car().charge_seconds(0.8, 1.0, 150) == pytest.approx(60 / 400 * math.log(5) * 3600)


def test_taper_under_a_weaker_gun_starts_where_the_curve_meets_it() -> None:
    # a 60 kW gun: the car's curve reaches 60 kW at s = 0.8 + 40/400 = 0.9; 0.8→0.9 at 60 kW,
    # then 0.9→1.0 on the curve: 6 kWh / 60 kW + 60/400 · ln(60/20)
    hours = 6 / 60 + 60 / 400 * math.log(3)
    assert car().charge_seconds(0.8, 1.0, 60) == pytest.approx(hours * 3600)


def test_ac_is_the_smaller_of_gun_and_on_board_charger() -> None:
    # 7 kW on-board charger on a 22 kW AC gun: 14 kWh take 2 h, taper or not
    assert car(max_ac_kw=7.0).charge_seconds(0.6, 60 / 60 * 0.6 + 14 / 60, 22, dc=False) == pytest.approx(7200)


def test_nothing_to_charge_takes_no_time_and_no_power_never_ends() -> None:
    assert car().charge_seconds(0.5, 0.5, 50) == 0
    assert car().charge_seconds(0.5, 0.6, 0) == math.inf


@pytest.mark.parametrize("kw", [{"battery_wh": 10}, {"consumption": ()}, {"consumption": ((60, -1),)},
                                {"curve": ((0.5, 10), (0.5, 20))}, {"charge_efficiency": 0.2}])
def test_bad_cars_are_refused_with_the_field(kw: dict[str, object]) -> None:
    with pytest.raises(CarError):
        car(**kw)
