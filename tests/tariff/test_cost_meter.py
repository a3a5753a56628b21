"""CostMeter: energy split at period boundaries, exact Wh, rounding, persistence, amount stop."""

from __future__ import annotations

import copy

import pytest
from tariff_support import FLAT_ONLY, HOUR_MS, dst_tariff, ms, tou, utc

from jcproto.tariff import (
    CostMeter,
    EnergyRegisterError,
    Tariff,
    round_half_up,
    split_energy,
    wh_until_amount,
)


def test_round_half_up():
    assert [round_half_up(n, 1000) for n in (0, 499, 500, 1499, 1500, 2500)] == [0, 0, 1, 1, 2, 3]


# (tariff, start, end, Wh over the interval, expected Wh per period name)
SPLITS = [
    ("flat", ms(2026, 6, 1, 1), ms(2026, 6, 1, 4), 12_345, {"flat": 12_345}),
    ("tou", ms(2026, 6, 1, 9), ms(2026, 6, 1, 10), 5_000, {"peak": 5_000}),  # no boundary
    ("tou", ms(2026, 6, 1, 7), ms(2026, 6, 1, 9), 2_000, {"flat": 1_000, "peak": 1_000}),
    # 05–19 h: valley 1 h, flat 2 h + 7 h, peak 3 h + 1 h
    (
        "tou",
        ms(2026, 6, 1, 5),
        ms(2026, 6, 1, 19),
        14_000,
        {"valley": 1_000, "flat": 9_000, "peak": 4_000},
    ),
    # across midnight: flat 21:30–22:00, valley 22–06, flat 06–06:30
    ("tou", ms(2026, 6, 1, 21, 30), ms(2026, 6, 2, 6, 30), 9_000, {"flat": 1_000, "valley": 8_000}),
    # uneven: 10 Wh over 07:20–08:20 → 40 min flat, 20 min peak (6.67 / 3.33)
    ("tou", ms(2026, 6, 1, 7, 20), ms(2026, 6, 1, 8, 20), 10, {"flat": 7, "peak": 3}),
    ("tou", ms(2026, 6, 1, 7, 0), ms(2026, 6, 1, 7, 0), 50, {"flat": 50}),  # zero-length interval
    ("tou", ms(2026, 6, 1, 7, 0), ms(2026, 6, 1, 9, 0), 0, {}),
]


@pytest.mark.parametrize(("name", "t0", "t1", "wh", "expected"), SPLITS)
def test_split_energy_table(name, t0, t1, wh, expected):
    tariff = Tariff.from_dict(FLAT_ONLY) if name == "flat" else tou()
    parts = split_energy(tariff, t0, t1, wh)
    assert parts == expected and sum(parts.values()) == wh


def test_split_by_real_time_across_a_dst_jump():
    # New York spring forward: 06:00–08:00 UTC is 01:00 EST → 04:00 EDT, two real hours
    t = dst_tariff("America/New_York", "02:30")
    assert split_energy(t, utc(2026, 3, 8, 6), utc(2026, 3, 8, 8), 2_000) == {
        "night": 1_000,
        "day": 1_000,
    }
    # fall back: 04:00–08:00 UTC; night 04:00–05:30 and again 06:00–06:30 UTC
    t = dst_tariff("America/New_York", "01:30")
    assert split_energy(t, utc(2026, 11, 1, 4), utc(2026, 11, 1, 8), 4_000) == {
        "night": 2_000,
        "day": 2_000,
    }


def test_cost_and_breakdown():
    m = CostMeter(tou(), ms(2026, 6, 1, 7), 100_000)
    assert m.feed(ms(2026, 6, 1, 9), 102_000) == 2_000
    # flat 1 000 Wh × 115 fen/kWh = 115 fen; peak 1 000 Wh × 155 = 155 fen
    assert m.cost_fen == 270
    assert m.breakdown() == {
        "flat": {"wh": 1_000, "energy_fen": 65, "service_fen": 50},
        "peak": {"wh": 1_000, "energy_fen": 105, "service_fen": 50},
    }
    assert m.energy_wh == 2_000 and m.wh_by_period == {"flat": 1_000, "peak": 1_000}


def test_rounding_is_half_up_once_per_period_name():
    m = CostMeter(Tariff.from_dict(FLAT_ONLY), ms(2026, 6, 1, 1), 0)
    for i in range(1, 11):  # ten readings of 1 Wh: 0.15 fen each, never rounded per reading
        m.feed(ms(2026, 6, 1, 1, i), i)
    assert m.cost_fen == 2  # round_half_up(10 × 150 / 1000) = round_half_up(1.5)
    assert m.breakdown() == {"flat": {"wh": 10, "energy_fen": 1, "service_fen": 1}}


def test_register_going_backwards_raises_and_changes_nothing():
    m = CostMeter(tou(), ms(2026, 6, 1, 7), 5_000)
    m.feed(ms(2026, 6, 1, 8), 6_000)
    before = m.to_dict()
    with pytest.raises(EnergyRegisterError):
        m.feed(ms(2026, 6, 1, 9), 5_999)
    assert m.to_dict() == before


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        CostMeter(tou(), ms(2026, 6, 1), -1)
    m = CostMeter(tou(), ms(2026, 6, 1), 0)
    with pytest.raises(ValueError):
        m.feed(1.5, 10)  # type: ignore[arg-type]


def test_rebase_continues_without_counting_the_jump():
    m = CostMeter(tou(), ms(2026, 6, 1, 9), 90_000)
    m.feed(ms(2026, 6, 1, 10), 91_000)
    m.rebase(ms(2026, 6, 1, 10, 1), 0)  # pile replaced: register back at 0
    m.feed(ms(2026, 6, 1, 10, 30), 500)
    assert m.energy_wh == 1_500 == m.last_wh - m.start_wh


def test_clock_stepping_back_charges_the_period_of_the_new_reading():
    m = CostMeter(tou(), ms(2026, 6, 1, 8, 30), 0)
    m.feed(ms(2026, 6, 1, 7, 30), 100)  # NTP stepped back an hour
    assert m.wh_by_period == {"flat": 100}
    m.feed(ms(2026, 6, 1, 8, 30), 300)
    assert m.wh_by_period == {"flat": 200, "peak": 100}


def test_state_survives_a_restart():
    m = CostMeter(tou(), ms(2026, 6, 1, 5), 1_000)
    m.feed(ms(2026, 6, 1, 7), 3_000)
    restored = CostMeter.from_dict(copy.deepcopy(m.to_dict()))
    for meter in (m, restored):
        meter.feed(ms(2026, 6, 1, 12), 9_000)
    assert restored.to_dict() == m.to_dict() and restored.cost_fen == m.cost_fen


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d.pop("last_wh"), "lacks 'last_wh'"),
        (lambda d: d["wh"].update({"valley": 999}), "inconsistent"),
        (lambda d: d["wh"].update({"offpeak": 1}), "not in its tariff"),
        (lambda d: d.update({"last_wh": "3000"}), "last_wh must be an integer"),
    ],
)
def test_corrupt_state_is_refused(mutate, fragment):
    m = CostMeter(tou(), ms(2026, 6, 1, 5), 1_000)
    m.feed(ms(2026, 6, 1, 7), 3_000)
    d = copy.deepcopy(m.to_dict())
    mutate(d)
    with pytest.raises(ValueError) as err:
        CostMeter.from_dict(d)
    assert fragment in str(err.value)


def test_wh_until_amount_is_exact():
    m = CostMeter(tou(), ms(2026, 6, 1, 7), 0)
    m.feed(ms(2026, 6, 1, 9), 2_000)  # 270 fen so far, now in peak (155 fen/kWh)
    now = ms(2026, 6, 1, 9)
    more = wh_until_amount(m, 1_000, now)
    # peak may reach 1000 − 115 = 885 fen, each fee rounded on its own: at 5 709 Wh
    # 599.445 → 599 + 285.45 → 285 = 884 fen; at 5 710 Wh 599.55 → 600 + 285.5 → 286 = 886
    assert more == 4_709
    at = copy.deepcopy(m)
    at.feed(now + 60_000, 2_000 + more)
    assert at.cost_fen <= 1_000
    over = copy.deepcopy(m)
    over.feed(now + 60_000, 2_000 + more + 1)
    assert over.cost_fen > 1_000


def test_wh_until_amount_edges():
    m = CostMeter(tou(), ms(2026, 6, 1, 7), 0)
    m.feed(ms(2026, 6, 1, 9), 2_000)
    # 270 fen spent; 4 Wh more of peak still round to the same 270 fen (1 004 Wh: 105.42 →
    # 105 + 50.2 → 50); at 1 005 Wh the electricity fee rounds up (105.525 → 106)
    assert wh_until_amount(m, 270, ms(2026, 6, 1, 9)) == 4
    assert wh_until_amount(m, 269, ms(2026, 6, 1, 9)) == 0
    assert wh_until_amount(m, 100, ms(2026, 6, 1, 9)) == 0  # passed
    free = Tariff.from_dict(
        {
            "id": "free",
            "periods": [
                {
                    "start": "00:00",
                    "end": "24:00",
                    "name": "f",
                    "energy_fen_per_kwh": 0,
                    "service_fen_per_kwh": 0,
                }
            ],
        }
    )
    assert wh_until_amount(CostMeter(free, 0, 0), 100, 0) is None


def test_a_long_gap_is_split_over_many_days():
    m = CostMeter(tou(), ms(2026, 6, 1, 0), 0)
    m.feed(ms(2026, 6, 11, 0), 240_000)  # ten days at 1 kWh per hour
    assert m.wh_by_period == {"valley": 80_000, "flat": 100_000, "peak": 60_000}
    assert m.energy_wh == 240_000
    assert m.last_ts_ms - m.start_ts_ms == 240 * HOUR_MS
