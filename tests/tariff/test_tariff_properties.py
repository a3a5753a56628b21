"""Properties of the cost arithmetic under arbitrary reading sequences and tariffs."""

from __future__ import annotations

import copy
import math
from fractions import Fraction
from zoneinfo import available_timezones

from hypothesis import given, settings
from hypothesis import strategies as st
from tariff_support import HOUR_MS, ms, period

from jcproto.tariff import (
    CostMeter,
    IdleFee,
    Tariff,
    amount_limit_wh,
    cost_line,
    idle_fen,
    names_within,
    reachable_wh,
    wh_until_amount,
    wh_within_amount_any_split,
)

SETTINGS = settings(max_examples=120, deadline=None)
# Every IANA zone this machine knows (DST of every kind, half-hour offsets, Lord Howe's
# 30-minute DST), the usual ones drawn more often.
ZONES = st.one_of(
    st.sampled_from(["Asia/Shanghai", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "UTC"]),
    st.sampled_from(sorted(available_timezones())),
)
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
    # Prices in _e4 (CNY/kWh × 10,000), some whole fen, some to four decimals.
    price = st.one_of(st.integers(0, 30_000), st.integers(0, 300).map(lambda f: f * 100))
    prices = {n: (draw(price), draw(price)) for n in sorted(set(names))}

    def hhmm(m: int) -> str:
        return f"{m // 60:02d}:{m % 60:02d}"

    periods = []
    for i, cut in enumerate(cuts):
        end = cuts[(i + 1) % len(cuts)]
        raw = {"start": hhmm(cut), "end": hhmm(end), "name": names[i]}
        for kind, e4 in zip(("energy", "service"), prices[names[i]], strict=True):
            raw.update(draw(price_forms(kind, e4)))
        periods.append(raw)
    return Tariff.from_dict({"id": "p", "tz": draw(ZONES), "periods": periods})


def price_forms(kind: str, e4: int) -> st.SearchStrategy[dict]:
    """The ways a period may give one price: _e4 alone, fen alone (when exact), or both
    with a fen value that disagrees (the _e4 form must win)."""
    forms = [st.just({f"{kind}_price_e4": e4}),
             st.integers(0, 500).map(lambda f: {f"{kind}_price_e4": e4, f"{kind}_fen_per_kwh": f})]
    if e4 % 100 == 0:
        forms.append(st.just({f"{kind}_fen_per_kwh": e4 // 100}))
    return st.one_of(forms)


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
        assert t.period_at(now).price_e4 == 0
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


def cost_with(m: CostMeter, more: dict[str, int]) -> int:
    """The meter's cost with `more` Wh added to some period names."""
    wh = dict(m._wh)
    for name, add in more.items():
        wh[name] = wh.get(name, 0) + add
    return sum(cost_line(m.tariff.prices(n), w).fen for n, w in wh.items() if w)


@SETTINGS
@given(t=tariffs(), steps=readings, amount=st.integers(0, 50_000), guard=st.integers(0, 6 * HOUR_MS),
       data=st.data())
def test_the_guarded_amount_limit_stays_within_the_amount_however_it_splits(t, steps, amount, guard, data):
    m, _ = run(t, 0, steps)
    names = names_within(t, m.last_ts_ms, m.last_ts_ms + guard)
    w = wh_within_amount_any_split(m, amount, names)
    if w is None:
        assert all(t.prices(n).price_e4 == 0 for n in names)
        return
    if w == 0:
        return
    assert m.cost_fen <= amount
    # every split of w among the names, exhaustively for two names and a small w
    if len(names) == 2 and w <= 400:
        worst = max(cost_with(m, {names[0]: a, names[1]: w - a}) for a in range(w + 1))
        assert worst <= amount
    weights = data.draw(st.lists(st.integers(0, 100), min_size=len(names), max_size=len(names)))
    parts = [w * x // max(1, sum(weights)) for x in weights]
    parts[0] += w - sum(parts)
    assert cost_with(m, dict(zip(names, parts, strict=True))) <= amount
    # and the limit the gateway writes is never above the exact stop; the guard only binds
    # near a boundary, and only where the gun could reach the stop within the window
    exact = wh_until_amount(m, amount, m.last_ts_ms)
    power = data.draw(st.one_of(st.none(), st.integers(1_000, 400_000)))
    limit = amount_limit_wh(m, amount, guard, power)
    assert limit is None or exact is None or limit <= exact
    nb = t.next_boundary(m.last_ts_ms)
    if nb is None or nb - m.last_ts_ms > guard:
        assert limit == exact  # far from a boundary: exact
    elif power is not None and exact is not None and exact > reachable_wh(power, guard):
        assert limit == exact
    elif exact is not None:
        assert limit == min(exact, w)


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


def half_up(x: Fraction) -> int:
    """Round half up, written independently of the module (exact rational arithmetic)."""
    return math.floor(x + Fraction(1, 2))


@SETTINGS
@given(t=tariffs(), start_wh=st.integers(0, 10**9), steps=readings)
def test_lines_follow_the_rounding_rule_and_add_up_to_the_total(t, start_wh, steps):
    m, _ = run(t, start_wh, steps)
    lines = m.lines()
    assert [ln.name for ln in lines] == [n for n in t.names() if m.wh_by_period.get(n)]
    for ln in lines:
        p = t.prices(ln.name)
        assert ln.wh == m.wh_by_period[ln.name] > 0
        # fen = round_half_up(Wh × price_e4 / 100,000), each fee on its own
        assert ln.energy_fen == half_up(Fraction(ln.wh * p.energy_price_e4, 100_000))
        assert ln.service_fen == half_up(Fraction(ln.wh * p.service_price_e4, 100_000))
        assert ln.fen == ln.energy_fen + ln.service_fen
    assert m.cost_fen == sum(ln.energy_fen for ln in lines) + sum(ln.service_fen for ln in lines)
    assert sum(ln.wh for ln in lines) == m.energy_wh
    # Each line is within a fen of the exact amount of its fee (rounded once, not per reading).
    exact = sum(Fraction(ln.wh * t.prices(ln.name).price_e4, 100_000) for ln in lines)
    assert abs(m.cost_fen - exact) <= len(lines)


@SETTINGS
@given(cuts=st.sets(st.integers(0, 1439), min_size=1, max_size=5),
       fen=st.lists(st.tuples(st.integers(0, 300), st.integers(0, 300)), min_size=5, max_size=5),
       tz=ZONES, steps=readings)
def test_fen_prices_and_the_same_prices_in_e4_give_the_same_bill(cuts, fen, tz, steps):
    cuts = sorted(cuts)

    def hhmm(m: int) -> str:
        return f"{m // 60:02d}:{m % 60:02d}"

    def spans():
        for i, cut in enumerate(cuts):
            yield i, hhmm(cut), hhmm(cuts[(i + 1) % len(cuts)])

    as_fen = Tariff.from_dict({"id": "x", "tz": tz, "periods": [
        period(a, b, f"p{i}", *fen[i]) for i, a, b in spans()]})
    as_e4 = Tariff.from_dict({"id": "x", "tz": tz, "periods": [
        {"start": a, "end": b, "name": f"p{i}", "energy_price_e4": fen[i][0] * 100,
         "service_price_e4": fen[i][1] * 100} for i, a, b in spans()]})
    assert as_fen == as_e4
    m_fen, _ = run(as_fen, 0, steps)
    m_e4, _ = run(as_e4, 0, steps)
    assert m_fen.lines() == m_e4.lines()
    for ln in m_fen.lines():  # and the same as the whole-fen formula of the first text
        e, s = fen[int(ln.name[1:])]
        assert ln.energy_fen == half_up(Fraction(ln.wh * e, 1000))
        assert ln.service_fen == half_up(Fraction(ln.wh * s, 1000))


idle_fees = st.builds(IdleFee, grace_min=st.integers(0, 24 * 60), step_min=st.integers(1, 24 * 60),
                      fen_per_step=st.integers(0, 10_000), cap_fen=st.integers(0, 10**6))


@SETTINGS
@given(idle=idle_fees, ended=st.integers(START, START + 365 * 24 * HOUR_MS),
       waits=st.lists(st.integers(-HOUR_MS, 10 * 24 * HOUR_MS), min_size=2, max_size=20))
def test_idle_fee_never_above_cap_and_monotone_in_time(idle, ended, waits):
    fees = [idle_fen(idle, ended, ended + w) for w in sorted(waits)]
    assert all(0 <= f <= idle.cap_fen for f in fees)
    assert fees == sorted(fees)  # a car that stays longer never pays less
    for w, f in zip(sorted(waits), fees, strict=True):
        charged = w - idle.grace_min * 60_000
        steps = 0 if charged <= 0 else math.ceil(Fraction(charged, idle.step_min * 60_000))
        assert f == min(steps * idle.fen_per_step, idle.cap_fen)
        if w <= idle.grace_min * 60_000:
            assert f == 0
