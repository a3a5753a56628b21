"""The tariff object: validation, serialisation, period lookup and boundaries (incl. DST)."""

from __future__ import annotations

import pytest
from tariff_support import FLAT_ONLY, HOUR_MS, TOU, dst_tariff, ms, period, tou, utc

from jcproto.tariff import DEFAULT_TZ, Tariff, TariffError


def make(periods, **extra):
    return Tariff.from_dict({"id": "t", "periods": periods, **extra})


def test_from_dict_defaults_and_round_trip():
    t = tou()
    assert t.tz == DEFAULT_TZ == "Asia/Shanghai" and t.currency == "CNY"
    d = t.to_dict()
    # whole-fen prices come back in both forms: the _e4 one, and the fen one v1 peers know
    assert d["tz"] == "Asia/Shanghai" and d["periods"] == [
        {**p, "energy_price_e4": p["energy_fen_per_kwh"] * 100,
         "service_price_e4": p["service_fen_per_kwh"] * 100}
        for p in TOU["periods"]
    ]
    assert Tariff.from_dict(d) == t


@pytest.mark.parametrize("end", ["24:00", "00:00"])
def test_end_of_day_may_be_written_either_way(end):
    t = make([period("00:00", "12:00", "a", 1, 1), period("12:00", end, "b", 2, 2)])
    assert t.period_at(ms(2026, 5, 1, 23, 59)).name == "b"
    assert t.period_at(ms(2026, 5, 2, 0, 0)).name == "a"


def test_periods_may_come_in_any_order_and_wrap_midnight():
    t = make([period("07:00", "23:00", "day", 80, 40), period("23:00", "07:00", "night", 30, 40)])
    assert t.period_at(ms(2026, 5, 1, 23, 0)).name == "night"
    assert t.period_at(ms(2026, 5, 2, 3, 0)).name == "night"
    assert t.period_at(ms(2026, 5, 2, 6, 59)).name == "night"
    assert t.period_at(ms(2026, 5, 2, 7, 0)).name == "day"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"periods": []}, "missing 'id'"),
        ({"id": "t"}, "missing 'periods'"),
        ({"id": "t", "periods": {}}, "periods must be a list"),
        ({"id": "t", "periods": []}, "at least one period"),
        ({"id": "", "periods": FLAT_ONLY["periods"]}, "id must be a non-empty string"),
        ({"id": "t", "currency": "USD", "periods": FLAT_ONLY["periods"]}, 'currency must be "CNY"'),
        (
            {"id": "t", "tz": "Mars/Olympus", "periods": FLAT_ONLY["periods"]},
            "not a known time zone",
        ),
        ({"id": "t", "tz": 8, "periods": FLAT_ONLY["periods"]}, "IANA time zone"),
        ({"id": "t", "periods": ["peak"]}, "periods[0] must be an object"),
    ],
)
def test_tariff_errors(raw, fragment):
    with pytest.raises(TariffError) as err:
        Tariff.from_dict(raw)
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    ("periods", "fragment"),
    [
        (
            [period("00:00", "12:00", "a", 1, 1), period("13:00", "24:00", "b", 1, 1)],
            "no period covers 12:00–13:00",
        ),
        (
            [period("00:00", "12:00", "a", 1, 1), period("11:00", "24:00", "b", 1, 1)],
            "periods[0] ('a' 00:00–12:00) and periods[1] ('b' 11:00–24:00) overlap at 11:00",
        ),
        ([period("00:00", "23:00", "a", 1, 1)], "no period covers 23:00–24:00"),
        ([period("7:00", "24:00", "a", 1, 1)], "periods[0] ('a'): start '7:00' must be \"HH:MM\""),
        ([period("24:00", "24:00", "a", 1, 1)], "start '24:00' is not a time of day"),
        (
            [period("00:00", "25:00", "a", 1, 1)],
            "end '25:00' is not a time of day 00:00–23:59 (end of day: \"24:00\"",
        ),
        (
            [period("00:00", "24:00", "a", -1, 1)],
            "energy_fen_per_kwh must be a whole number of fen",
        ),
        ([period("00:00", "24:00", "a", 1, 0.5)], "service_fen_per_kwh must be a whole number"),
        ([period("00:00", "24:00", "a", True, 1)], "energy_fen_per_kwh must be a whole number"),
        ([period("00:00", "24:00", "", 1, 1)], "name must be a non-empty string"),
        (
            [{"start": "00:00", "end": "24:00", "name": "a"}],
            "periods[0] ('a'): missing 'energy_fen_per_kwh'",
        ),
        (
            [period("00:00", "12:00", "peak", 1, 1), period("12:00", "24:00", "peak", 2, 1)],
            "periods that share a name must share prices",
        ),
        (
            [period("08:00", "08:00", "a", 1, 1), period("08:00", "09:00", "b", 1, 1)],
            "overlap at 08:00",
        ),
    ],
)
def test_period_errors_name_the_period_and_the_fix(periods, fragment):
    with pytest.raises(TariffError) as err:
        make(periods)
    assert fragment in str(err.value)


def test_same_name_same_prices_is_one_period():
    t = make(
        [
            period("23:00", "24:00", "valley", 1, 1),
            period("00:00", "07:00", "valley", 1, 1),
            period("07:00", "23:00", "day", 2, 2),
        ]
    )
    # midnight is not a boundary: the valley runs 23:00–07:00
    assert t.next_boundary(ms(2026, 5, 1, 22, 0)) == ms(2026, 5, 1, 23, 0)
    assert t.next_boundary(ms(2026, 5, 1, 23, 0)) == ms(2026, 5, 2, 7, 0)


def test_period_at_in_asia_shanghai():
    t = tou()
    assert t.period_at(ms(2026, 7, 1, 9, 0)).name == "peak"
    assert t.period_at(utc(2026, 7, 1, 1, 0)).name == "peak"  # 09:00 CST is 01:00 UTC
    assert t.period_at(ms(2026, 7, 1, 7, 59)).name == "flat"
    assert t.period_at(ms(2026, 7, 1, 22, 0)).name == "valley"
    assert t.period_at(ms(2026, 7, 1, 5, 59)).price_fen_per_kwh == 80


def test_next_boundary_in_asia_shanghai():
    t = tou()
    assert t.next_boundary(ms(2026, 7, 1, 9, 0)) == ms(2026, 7, 1, 11, 0)
    assert t.next_boundary(ms(2026, 7, 1, 11, 0)) == ms(2026, 7, 1, 18, 0)
    assert t.next_boundary(ms(2026, 7, 1, 21, 59)) == ms(2026, 7, 1, 22, 0)
    assert t.next_boundary(ms(2026, 7, 1, 22, 0)) == ms(2026, 7, 2, 6, 0)  # across midnight
    assert t.next_boundary(ms(2026, 7, 1, 10, 59) + 59_999) == ms(2026, 7, 1, 11, 0)
    # no DST in China: the same local boundaries all year round
    for month in range(1, 13):
        assert t.next_boundary(ms(2026, month, 15, 7, 30)) == ms(2026, month, 15, 8, 0)


def test_single_period_has_no_boundary():
    assert Tariff.from_dict(FLAT_ONLY).next_boundary(ms(2026, 1, 1)) is None


def test_spring_forward_skips_into_the_next_period():
    # New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC); 02:30 never happens
    t = dst_tariff("America/New_York", "02:30")
    assert t.next_boundary(utc(2026, 3, 8, 6, 0)) == utc(2026, 3, 8, 7, 0)
    assert t.period_at(utc(2026, 3, 8, 7, 0) - 1).name == "night"
    assert t.period_at(utc(2026, 3, 8, 7, 0)).name == "day"
    # the next night starts at local midnight, EDT now
    assert t.next_boundary(utc(2026, 3, 8, 7, 0)) == ms(2026, 3, 9, 0, 0, tz="America/New_York")


def test_fall_back_repeats_an_hour_at_its_own_price():
    # New York, 2026-11-01: 02:00 EDT falls back to 01:00 EST (06:00 UTC); 01:30 happens twice
    t = dst_tariff("America/New_York", "01:30")
    chain = [utc(2026, 11, 1, 4, 30)]  # 00:30 EDT, night
    for _ in range(4):
        chain.append(t.next_boundary(chain[-1]))
    assert chain[1:] == [
        utc(2026, 11, 1, 5, 30),  # 01:30 EDT: day
        utc(2026, 11, 1, 6, 0),  # 01:00 EST: night again
        utc(2026, 11, 1, 6, 30),  # 01:30 EST: day
        utc(2026, 11, 2, 5, 0),  # 00:00 EST next day: night
    ]
    assert [t.name_at(c) for c in chain] == ["night", "day", "night", "day", "night"]


def _brute_boundaries(t: Tariff, start: int, end: int) -> list[int]:
    """Every UTC minute where the name changes (offsets here are whole minutes)."""
    out = []
    before = t.name_at(start)
    for m in range(start + 60_000, end, 60_000):
        now = t.name_at(m)
        if now != before:
            out.append(m)
        before = now
    return out


@pytest.mark.parametrize(
    ("tz", "cut", "day"),
    [
        ("America/New_York", "02:30", (2026, 3, 7)),
        ("America/New_York", "01:30", (2026, 10, 31)),
        ("Europe/Berlin", "02:15", (2026, 3, 28)),
        ("Europe/Berlin", "02:15", (2026, 10, 24)),
        ("Australia/Lord_Howe", "01:45", (2026, 4, 4)),  # a 30-minute DST shift
        ("Australia/Lord_Howe", "02:15", (2026, 10, 3)),
        ("Asia/Shanghai", "02:30", (2026, 3, 7)),
    ],
)
def test_next_boundary_matches_a_minute_by_minute_scan(tz, cut, day):
    t = dst_tariff(tz, cut)
    start = ms(*day, tz=tz)
    end = start + 3 * 24 * HOUR_MS
    expected = _brute_boundaries(t, start, end)
    found, at = [], start
    while True:
        at = t.next_boundary(at)
        if at >= end:
            break
        found.append(at)
    assert found == expected
