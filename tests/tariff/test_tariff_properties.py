"""Properties of the cost arithmetic under arbitrary reading sequences and tariffs."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st
from tariff_support import HOUR_MS, ms, period

from jcproto.tariff import CostMeter, Tariff, wh_until_amount

SETTINGS = settings(max_examples=120, deadline=None)
ZONES = ["Asia/Shanghai", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "UTC"]
START = ms(2026, 1, 1)


@st.composite
def tariffs(draw: st.DrawFn) -> Tariff:
    """1–6 periods cut at random minutes (rotated so some wrap midnight), 1–4 price names."""
    cuts = sorted(draw(st.sets(st.integers(0, 1439), min_size=1, max_size=6)))
    names = draw(
        st.lists(
            st.sampled_from(["valley", "flat", "peak", "sharp"]),
            min_size=len(cuts),
            max_size=len(cuts),
        )
    )
    prices = {n: (draw(st.integers(0, 200)), draw(st.integers(0, 100))) for n in set(names)}

    def hhmm(m: int) -> str:
        return f"{m // 60:02d}:{m % 60:02d}"

    periods = []
    for i, cut in enumerate(cuts):
        end = cuts[(i + 1) % len(cuts)]
        periods.append(period(hhmm(cut), hhmm(end), names[i], *prices[names[i]]))
    return Tariff.from_dict({"id": "p", "tz": draw(st.sampled_from(ZONES)), "periods": periods})


readings = st.lists(
    st.tuples(
        st.one_of(st.integers(1, 120_000), st.integers(1, 3 * 24 * HOUR_MS)),  # ms to the next
        st.integers(0, 60_000),  # Wh since the previous reading
    ),
    min_size=1,
    max_size=30,
)


def run(tariff: Tariff, start_wh: int, steps) -> tuple[CostMeter, list[int]]:
    m = CostMeter(tariff, START, start_wh)
    ts, wh, costs = START, start_wh, []
    for dt, dwh in steps:
        ts, wh = ts + dt, wh + dwh
        m.feed(ts, wh)
        costs.append(m.cost_fen)
    return m, costs


@SETTINGS
@given(t=tariffs(), start_wh=st.integers(0, 10**9), steps=readings)
def test_energy_is_conserved_and_cost_adds_up(t, start_wh, steps):
    m, costs = run(t, start_wh, steps)
    total = sum(dwh for _, dwh in steps)
    assert m.energy_wh == total == m.last_wh - start_wh
    parts = m.breakdown()
    assert sum(p["wh"] for p in parts.values()) == total
    assert m.cost_fen == sum(p["energy_fen"] + p["service_fen"] for p in parts.values())
    assert all(p["energy_fen"] >= 0 and p["service_fen"] >= 0 for p in parts.values())
    assert costs == sorted(costs)  # cost never goes down as energy is added
    assert CostMeter.from_dict(m.to_dict()).to_dict() == m.to_dict()


@SETTINGS
@given(t=tariffs(), steps=readings, data=st.data())
def test_finer_readings_keep_the_total(t, steps, data):
    coarse, _ = run(t, 0, steps)
    fine_steps = []
    for dt, dwh in steps:  # cut some intervals in two, at an interpolated reading
        if dt > 1 and data.draw(st.booleans()):
            cut = data.draw(st.integers(1, dt - 1))
            first = dwh * cut // dt
            fine_steps += [(cut, first), (dt - cut, dwh - first)]
        else:
            fine_steps.append((dt, dwh))
    fine, _ = run(t, 0, fine_steps)
    assert fine.energy_wh == coarse.energy_wh
    extra = len(fine_steps) - len(steps)
    for name in set(fine.wh_by_period) | set(coarse.wh_by_period):
        diff = abs(fine.wh_by_period.get(name, 0) - coarse.wh_by_period.get(name, 0))
        assert diff <= 2 * (extra + len(steps))  # only whole-Wh rounding moves


@SETTINGS
@given(t=tariffs(), steps=readings, extra=st.integers(0, 100_000), dt=st.integers(1, HOUR_MS))
def test_more_energy_in_one_period_never_costs_less(t, steps, extra, dt):
    m, _ = run(t, 0, steps)
    more = copy.deepcopy(m)
    end = m.last_ts_ms + dt
    nb = t.next_boundary(m.last_ts_ms)
    if nb is not None and nb < end:
        end = nb  # stay inside one period
    base_cost = m.cost_fen
    m.feed(end, m.last_wh)
    more.feed(end, more.last_wh + extra)
    assert m.cost_fen == base_cost <= more.cost_fen


@SETTINGS
@given(t=tariffs(), steps=readings, amount=st.integers(0, 500_000))
def test_wh_until_amount_never_overshoots(t, steps, amount):
    m, _ = run(t, 0, steps)
    now = m.last_ts_ms
    more = wh_until_amount(m, amount, now)
    nb = t.next_boundary(now)
    end = now + 1 if nb is None else min(now + 1, nb)  # stay in the current period
    if more is None:
        assert t.period_at(now).price_fen_per_kwh == 0
        return
    at = copy.deepcopy(m)
    at.feed(end, m.last_wh + more)
    if m.cost_fen <= amount:
        assert at.cost_fen <= amount
        beyond = copy.deepcopy(m)
        beyond.feed(end, m.last_wh + more + 1)
        assert beyond.cost_fen > amount
    else:
        assert more == 0


@SETTINGS
@given(t=tariffs(), offset=st.integers(0, 10 * 365 * 24 * HOUR_MS))
def test_next_boundary_is_the_next_change(t, offset):
    ts = START + offset
    nb = t.next_boundary(ts)
    here = t.name_at(ts)
    if nb is None:
        assert len({p.name for p in t.periods}) == 1
        return
    assert ts < nb <= ts + 25 * HOUR_MS
    assert t.name_at(nb) != here and t.name_at(nb - 1) == here
    for k in range(1, 16):  # and nothing changes in between
        assert t.name_at(ts + (nb - ts) * k // 16) == here
