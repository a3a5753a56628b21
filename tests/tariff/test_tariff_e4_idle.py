"""Revision 1.1: prices to four decimals (`_e4`), per-fee rounding, the bill's lines, and
the idle fee (占位费)."""

from __future__ import annotations

import pytest
from tariff_support import ms, period

from jcproto.tariff import (
    CostLine,
    CostMeter,
    IdleFee,
    Tariff,
    TariffError,
    cost_lines,
    fen_e4,
    idle_fen,
)

MIN = 60_000


def e4_period(start: str, end: str, name: str, energy_e4: int, service_e4: int) -> dict:
    return {"start": start, "end": end, "name": name,
            "energy_price_e4": energy_e4, "service_price_e4": service_e4}


def test_e4_prices_are_exact_and_win_over_fen():
    t = Tariff.from_dict({"id": "t", "periods": [
        {**e4_period("00:00", "24:00", "flat", 6855, 4000), "energy_fen_per_kwh": 99}]})
    p = t.periods[0]
    assert (p.energy_price_e4, p.service_price_e4) == (6855, 4000)
    assert p.energy_fen_per_kwh is None  # 68.55 fen: not a whole fen
    assert p.service_fen_per_kwh == 40
    d = p.to_dict()
    assert d["energy_price_e4"] == 6855 and "energy_fen_per_kwh" not in d
    assert d["service_fen_per_kwh"] == 40
    assert Tariff.from_dict(t.to_dict()) == t


def test_fen_alone_means_times_100():
    t = Tariff.from_dict({"id": "t", "periods": [period("00:00", "24:00", "flat", 85, 40)]})
    assert (t.periods[0].energy_price_e4, t.periods[0].service_price_e4) == (8500, 4000)


def test_mixed_forms_per_fee():
    t = Tariff.from_dict({"id": "t", "periods": [
        {"start": "00:00", "end": "24:00", "name": "f", "energy_price_e4": 6855,
         "service_fen_per_kwh": 40}]})
    assert (t.periods[0].energy_price_e4, t.periods[0].service_price_e4) == (6855, 4000)


@pytest.mark.parametrize(("raw", "fragment"), [
    ({"energy_price_e4": -1, "service_price_e4": 0}, "energy_price_e4 must be a whole number"),
    ({"energy_price_e4": 1.5, "service_price_e4": 0}, "energy_price_e4 must be a whole number"),
    ({"energy_price_e4": True, "service_price_e4": 0}, "energy_price_e4 must be a whole number"),
    ({"energy_price_e4": 10**6 + 1, "service_price_e4": 0}, "0 to 1000000"),  # over 100 CNY/kWh
    ({"energy_fen_per_kwh": 10**4 + 1, "service_price_e4": 0}, "energy_fen_per_kwh must be a whole number"),
    ({"energy_price_e4": 1}, "missing 'service_fen_per_kwh' (or 'service_price_e4'"),
])
def test_bad_e4_prices_name_the_key(raw, fragment):
    with pytest.raises(TariffError) as err:
        Tariff.from_dict({"id": "t", "periods": [{"start": "00:00", "end": "24:00", "name": "a", **raw}]})
    assert fragment in str(err.value)


def test_each_fee_is_rounded_once_per_period_name():
    # 0.6855 + 0.4 CNY/kWh
    t = Tariff.from_dict({"id": "t", "periods": [e4_period("00:00", "24:00", "flat", 6855, 4000)]})
    m = CostMeter(t, ms(2026, 6, 1), 0)
    m.feed(ms(2026, 6, 1, 1), 12_345)  # 12.345 kWh
    # 12 345 × 6 855 / 100 000 = 846.24975 → 846; 12 345 × 4 000 / 100 000 = 493.8 → 494
    assert m.lines() == [CostLine("flat", 12_345, 846, 494)]
    assert m.cost_fen == 1_340
    # The same energy as one rounded sum would be 1 340.04975 → 1 340 too, but the lines
    # are what the bill prints and they add up: 846 + 494.
    assert fen_e4(10, 5_000) == 1  # 0.5 fen rounds half up
    assert fen_e4(9, 5_000) == 0  # 0.45 fen rounds down


def test_cost_lines_from_energy_split_elsewhere():
    t = Tariff.from_dict({"id": "t", "periods": [
        e4_period("00:00", "08:00", "valley", 3125, 4000),
        e4_period("08:00", "24:00", "peak", 10_555, 4000)]})
    lines = cost_lines(t, {"peak": 1_000, "valley": 2_000})
    assert [ln.to_dict() for ln in lines] == [
        {"name": "valley", "wh": 2_000, "energy_fen": 63, "service_fen": 80},  # 62.5 → 63
        {"name": "peak", "wh": 1_000, "energy_fen": 106, "service_fen": 40},  # 105.55 → 106
    ]
    with pytest.raises(KeyError):
        cost_lines(t, {"sharp": 1})


def test_replay_of_recorded_readings_gives_the_live_meters_lines():
    t = Tariff.from_dict({"id": "t", "periods": [
        e4_period("00:00", "08:00", "valley", 3125, 4000),
        e4_period("08:00", "24:00", "peak", 10_555, 4000)]})
    t0 = ms(2026, 6, 1, 7)
    readings = [(t0 + i * MIN, 1_000 + i * 117) for i in range(1, 121)]
    live = CostMeter(t, t0, 1_000)
    for ts, wh in readings:
        live.feed(ts, wh)
    again = CostMeter.replay(t, t0, 1_000, [*readings[:50], (readings[50][0], 5), *readings[50:]])
    assert again.to_dict() == live.to_dict() and again.lines() == live.lines()


IDLE = IdleFee(grace_min=15, step_min=30, fen_per_step=200, cap_fen=1_000)


@pytest.mark.parametrize(("after_end_min", "fen"), [
    (0, 0), (15, 0),  # within the grace
    (15.001, 200), (45, 200),  # the first step started
    (45.001, 400), (75, 400), (135, 800), (135.5, 1_000), (10_000, 1_000),  # capped
])
def test_idle_fee_counts_started_steps_after_grace(after_end_min, fen):
    end = ms(2026, 6, 1, 10)
    assert IDLE.fen(end, end + int(after_end_min * MIN)) == fen


def test_idle_fee_object():
    t = Tariff.from_dict({"id": "t", "periods": [period("00:00", "24:00", "f", 1, 1)],
                          "idle": IDLE.to_dict()})
    assert t.idle == IDLE and Tariff.from_dict(t.to_dict()) == t
    assert idle_fen(None, 0, 10**9) == 0
    assert idle_fen(t.idle, 0, 10**9) == 1_000
    assert IDLE.fen(10**6, 0) == 0  # released before the end (clock stepped): nothing
    with pytest.raises(TariffError, match="step_min must be a whole number 1 to"):
        IdleFee.from_dict({**IDLE.to_dict(), "step_min": 0})
    with pytest.raises(TariffError, match="idle: missing 'cap_fen'"):
        IdleFee.from_dict({"grace_min": 1, "step_min": 1, "fen_per_step": 1})
    with pytest.raises(TariffError, match="idle must be an object"):
        Tariff.from_dict({"id": "t", "periods": [period("00:00", "24:00", "f", 1, 1)], "idle": 5})
