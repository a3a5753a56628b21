"""The orderly-charging planner (edge/loadctl/orderly.py), by properties over random slots,
prices, headrooms, energies and gun powers:
- no slot is planned above its headroom or the gun's maximum, and none between 0 and the
  gun's minimum;
- a deadline that can be met (Σ over slots of what the slot can give ≥ the energy: computed
  here independently, slot by slot from the inputs) is met; one that cannot is reported
  `cannot_meet` with the shortfall, charging every slot at what it can give;
- the plan is the cheapest: on small cases, against every integer split of the energy.
And a few hand-made cases whose answer is obvious."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.loadctl.orderly import (
    CANNOT_MEET,
    DONE,
    HOUR_MS,
    ON_TRACK,
    PAST_DEPARTURE,
    Slot,
    make_slots,
    plan,
    remaining_headroom,
)
from jcproto.tariff import Tariff

SETTINGS = settings(max_examples=400, deadline=None)


@st.composite
def slot_lists(draw, max_slots=12, max_len_ms=3 * HOUR_MS):
    n = draw(st.integers(0, max_slots))
    t = draw(st.integers(0, 10**12))
    out = []
    for _ in range(n):
        length = draw(st.integers(1_000, max_len_ms))
        out.append(Slot(t, t + length, draw(st.integers(0, 30_000)), draw(st.integers(0, 200_000))))
        t += length
    return out


def can_give_wh(s: Slot, max_w: int, min_w: int) -> int:
    """What one slot can give, written out again from the inputs: the power is the lower of
    the gun's maximum and the headroom, unusable below the minimum, times the slot's length,
    in whole Wh."""
    w = min(max_w, s.headroom_w)
    if w < max(1, min_w):
        return 0
    return (w * (s.end_ms - s.start_ms)) // HOUR_MS


@SETTINGS
@given(slot_lists(), st.integers(0, 400_000), st.integers(0, 250_000), st.integers(0, 20_000))
def test_never_above_the_headroom_and_never_misses_a_feasible_deadline(slots, energy, max_w, min_w):
    p = plan(slots, energy, max_w, min_w)
    assert len(p.power_w) == len(slots) == len(p.energy_wh)
    for s, w, e in zip(slots, p.power_w, p.energy_wh, strict=True):
        assert 0 <= w <= min(max_w, s.headroom_w), "planned above the transformer's headroom"
        assert w == 0 or w >= min_w, "planned below the gun's minimum"
        # the energy counted on is what that power really draws in the slot
        assert 0 <= e <= w * (s.end_ms - s.start_ms) // HOUR_MS
    available = sum(can_give_wh(s, max_w, min_w) for s in slots)
    if energy <= 0:
        assert p.status == DONE and p.expected_wh == 0
    elif not slots:
        assert p.status == PAST_DEPARTURE
    elif available >= energy:
        assert p.status == ON_TRACK, "missed a deadline that can be met"
        assert p.expected_wh == energy and p.shortfall_wh == 0
        assert p.finish_ms is not None and p.finish_ms <= slots[-1].end_ms
    else:
        # as fast as allowed: every slot gives all it can, and the shortfall is said
        assert p.status == CANNOT_MEET
        assert p.expected_wh == available and p.shortfall_wh == energy - available
        assert list(p.energy_wh) == [can_give_wh(s, max_w, min_w) for s in slots]


def cheapest_by_search(slots: list[Slot], energy: int, max_w: int) -> int | None:
    """The least Σ Wh × price over every integer split of `energy` across the slots within
    what each can give; None when no split reaches it."""
    caps = [can_give_wh(s, max_w, 0) for s in slots]
    best = None
    for split in itertools.product(*(range(c + 1) for c in caps)):
        if sum(split) != energy:
            continue
        cost = sum(e * s.price_e4 for e, s in zip(split, slots, strict=True))
        best = cost if best is None or cost < best else best
    return best


@settings(max_examples=300, deadline=None)
@given(slot_lists(max_slots=4, max_len_ms=HOUR_MS), st.integers(1, 14), st.integers(0, 12))
def test_the_plan_is_the_cheapest_of_all_splits(slots, energy, max_w):
    # small powers and energies: every split can be tried (≤ 13 Wh a slot, 4 slots)
    p = plan(slots, energy, max_w)
    best = cheapest_by_search(slots, energy, max_w)
    if best is None:
        assert p.status in (CANNOT_MEET, PAST_DEPARTURE)
    else:
        assert p.status == ON_TRACK
        assert p.cost_e4_wh == best


def test_the_valley_first_the_peak_only_for_what_the_valley_cannot_give():
    h = HOUR_MS
    slots = [Slot(0, h, 15_000, 100_000), Slot(h, 2 * h, 4_000, 100_000), Slot(2 * h, 3 * h, 8_000, 100_000)]
    p = plan(slots, 10_000, 7_000)
    assert p.power_w == (0, 7_000, 3_000) and p.energy_wh == (0, 7_000, 3_000)
    assert p.status == ON_TRACK and p.finish_ms == 3 * h and p.power_now_w == 0
    # the transformer leaves only 2 kW in the valley: the flat hour fills, the peak gives the rest
    slots[1] = Slot(h, 2 * h, 4_000, 2_000)
    p = plan(slots, 10_000, 7_000)
    assert p.power_w == (1_000, 2_000, 7_000) and p.status == ON_TRACK
    # 30 kWh cannot be had in 3 h at 7 kW: as fast as allowed, 19 kWh expected
    p = plan(slots, 30_000, 7_000)
    assert p.status == CANNOT_MEET and p.power_w == (7_000, 2_000, 7_000)
    assert p.expected_wh == 16_000 and p.shortfall_wh == 14_000


def test_a_gun_minimum_rounds_the_last_slot_up_and_skips_slots_too_small():
    h = HOUR_MS
    slots = [Slot(0, h, 1_000, 1_000), Slot(h, 2 * h, 2_000, 50_000)]
    p = plan(slots, 500, 7_000, min_power_w=1_500)
    # the cheap hour has only 1 kW of room: below the gun's 1.5 kW, it is not used
    assert p.power_w == (0, 1_500) and p.energy_wh == (0, 500)


def test_slots_are_cut_at_the_grid_and_the_tariff_boundaries():
    tariff = Tariff.from_dict({"id": "t", "tz": "UTC", "periods": [
        {"start": "00:00", "end": "00:20", "name": "peak", "energy_price_e4": 10_000, "service_price_e4": 0},
        {"start": "00:20", "end": "24:00", "name": "valley", "energy_price_e4": 3_000, "service_price_e4": 0}]})
    now = 86_400_000 * 20_000 + 5 * 60_000  # 00:05 UTC
    slots = make_slots(now, now + 40 * 60_000, lambda t: tariff.period_at(t).price_e4, tariff.next_boundary,
                       lambda t: 9_000)
    # 00:05–00:15 (grid), 00:15–00:20 (the valley begins), 00:20–00:30, 00:30–00:45 (departure)
    assert [(s.start_ms - now) // 60_000 for s in slots] == [0, 10, 15, 25]
    assert [s.end_ms - s.start_ms for s in slots] == [600_000, 300_000, 600_000, 900_000]
    assert [s.price_e4 for s in slots] == [10_000, 10_000, 3_000, 3_000]


def test_other_sessions_plans_take_their_part_of_the_headroom():
    h = HOUR_MS
    other = plan([Slot(0, h, 1, 10_000), Slot(h, 2 * h, 2, 10_000)], 7_000, 7_000)
    assert other.power_w == (7_000, 0)
    assert remaining_headroom(10_000, [other], Slot(0, h, 1, 0)) == 3_000
    assert remaining_headroom(10_000, [other], Slot(h, 2 * h, 1, 0)) == 10_000
    assert remaining_headroom(5_000, [other, other], Slot(0, h, 1, 0)) == 0
