"""What the car takes (edge/loadctl/acceptance.py) and the plan that counts on it
(`orderly.plan(..., accept_w=)`).

The learner on a hand-driven clock: a sustained shortfall is learned, one low reading is not,
nor the ramp after a limit change; a car that later takes more raises the figure; a car
drawing a lower limit in full leaves it alone. By properties:
- the planner with a car taking less than the pile: never above the headroom or the pile's
  power; a deadline that can be met at what the car takes (computed here independently) is
  met by that car, slot by slot; one that cannot is `cannot_meet`;
- the loop (planner, learner and a car taking less than the pile, on a fake clock in 5 s
  steps): no limit ever above the slot's headroom; the car's figure, once learned, is what it
  takes; from then on a deadline that can be met at it is met."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.loadctl import ACCEPTANCE_KEYS, RANGES, Policy, PolicyError
from edge.loadctl.acceptance import Acceptance, AcceptanceRules
from edge.loadctl.orderly import CANNOT_MEET, DONE, HOUR_MS, ON_TRACK, PAST_DEPARTURE, Slot, plan
from tests.loadctl.test_orderly_plan import slot_lists

SETTINGS = settings(max_examples=300, deadline=None)
# The default rules (the gateway's config without orderly_* acceptance keys): the tests below
# were written for these.
RULES = AcceptanceRules()
RAMP_S, SUSTAIN_S, MIN_READINGS = RULES.ramp_s, RULES.sustain_s, RULES.min_readings
MOVE_PCT, MOVE_MIN_W = RULES.move_pct, RULES.move_min_w


def feed(
    a: Acceptance,
    t0: float,
    seconds: float,
    limit: int,
    power: int,
    step: float = 1.0,
    charging: bool = True,
) -> float:
    """Readings every `step` s from t0 for `seconds`; the time after the last one."""
    t = t0
    while t < t0 + seconds:
        a.observe(t, limit, power, charging)
        t += step
    return t


def near(got: int | None, w: int) -> bool:
    """Within the figure's own dead band (it moves only by more than MOVE_PCT)."""
    return got is not None and abs(got - w) <= max(MOVE_MIN_W, w * MOVE_PCT / 100)


# ---- the learner -----------------------------------------------------------------------------


def test_a_sustained_shortfall_is_learned_after_the_ramp():
    a = Acceptance()
    t = feed(a, 0.0, RAMP_S, 7_000, 3_680)  # ramping after the limit was set: nothing yet
    assert a.accept_w is None
    t = feed(a, t, SUSTAIN_S - 1, 7_000, 3_680)
    assert a.accept_w is None  # not sustained long enough
    feed(a, t, 2, 7_000, 3_680)
    assert a.accept_w == 3_680


def test_one_low_reading_or_a_ramp_is_not_a_shortfall():
    a = Acceptance()
    t = feed(a, 0.0, RAMP_S + 1, 7_000, 7_000)
    # the car dips for a moment, then draws its limit again: the window starts over
    for i in range(int(SUSTAIN_S * 3)):
        a.observe(t, 7_000, 2_000 if i % 5 == 0 else 6_990, True)
        t += 1
    assert a.accept_w is None
    # every limit change restarts the ramp: a car still climbing to a new limit is not short
    for limit in (2_000, 4_000, 6_000, 7_000):
        for _ in range(int(RAMP_S) - 1):
            a.observe(t, limit, limit // 2, True)
            t += 1
    assert a.accept_w is None


def test_a_paused_car_or_a_gun_held_at_0_teaches_nothing():
    a = Acceptance()
    t = feed(a, 0.0, 60, 7_000, 0)  # charging, but drawing nothing (a car that pauses)
    t = feed(a, t, 60, 7_000, 3_000, charging=False)
    t = feed(a, t, 60, 0, 0)
    assert a.accept_w is None
    feed(a, t, RAMP_S + SUSTAIN_S + 2, 7_000, 3_000)
    assert a.accept_w == 3_000


def test_the_same_reading_seen_twice_counts_once():
    a = Acceptance()
    a.observe(0.0, 7_000, 3_000, True)
    for _ in range(100):  # the controller looks at the gun many times between two polls
        a.observe(RAMP_S + SUSTAIN_S + 1, 7_000, 3_000, True)
    assert a.accept_w is None and len(a.window) == 1
    assert len(a.window) < MIN_READINGS


def test_a_car_that_takes_more_later_raises_the_figure_and_a_taper_lowers_it():
    a = Acceptance()
    t = feed(a, 0.0, RAMP_S + SUSTAIN_S + 1, 7_000, 3_600)
    assert a.accept_w == 3_600
    # the same limit, and the car now takes 5 kW (its battery warmed up): still short, higher
    t = feed(a, t, SUSTAIN_S + 2, 7_000, 5_000)
    assert near(a.accept_w, 5_000)
    # a lower limit drawn in full says nothing above it: the figure stays
    before = a.accept_w
    t = feed(a, t, RAMP_S + SUSTAIN_S + 2, 2_000, 2_000)
    assert a.accept_w == before
    # the limit raised and the car follows it all the way: it takes at least that
    t = feed(a, t, RAMP_S + SUSTAIN_S + 2, 7_000, 6_990)
    assert near(a.accept_w, 6_990)
    # a DC taper: less and less under the same limit
    for w in (5_000, 4_000, 3_000):
        t = feed(a, t, SUSTAIN_S + 2, 7_000, w)
        assert near(a.accept_w, w)


def test_noise_does_not_move_the_figure():
    a = Acceptance()
    t = feed(a, 0.0, RAMP_S + SUSTAIN_S + 1, 7_000, 3_680)
    changed = []
    for i in range(200):
        changed.append(a.observe(t, 7_000, 3_680 + (40 if i % 2 else -40), True))
        t += 1
    assert a.accept_w == 3_680 and not any(changed)


# ---- the rules, as the gateway's config sets them ---------------------------------------------


def test_the_default_rules_are_the_learner_s_original_constants():
    assert (RULES.ramp_s, RULES.sustain_s, RULES.shortfall_pct, RULES.shortfall_min_w) == (
        10,
        15,
        90,
        200,
    )
    assert (RULES.move_pct, RULES.move_min_w, RULES.min_readings) == (3, 100, 3)
    assert Acceptance().rules == RULES and AcceptanceRules.of(Policy()) == RULES


@pytest.mark.parametrize(
    ("rules", "learned_by"),
    [
        (AcceptanceRules(sustain_s=5.0), RAMP_S + 5),
        (AcceptanceRules(ramp_s=2.0), 2 + SUSTAIN_S),
        (RULES, RAMP_S + SUSTAIN_S),
    ],
)
def test_a_shorter_sustain_or_ramp_learns_sooner(rules, learned_by):
    a = Acceptance(rules=rules)
    t = feed(a, 0.0, learned_by, 7_000, 3_680)  # readings up to just before learned_by
    assert a.accept_w is None
    a.observe(t, 7_000, 3_680, True)
    assert t == learned_by and a.accept_w == 3_680


def test_what_counts_as_a_shortfall_and_a_move_are_the_rules():
    # 6.8 of 7 kW (97 %, 200 W below) is no shortfall by default; it is under 98 % / 100 W
    default, strict = (
        Acceptance(),
        Acceptance(rules=AcceptanceRules(shortfall_pct=98, shortfall_min_w=100)),
    )
    for a in (default, strict):
        feed(a, 0.0, RAMP_S + SUSTAIN_S + 2, 7_000, 6_800)
    assert default.accept_w is None and strict.accept_w == 6_800
    # 3,680 W then 3,900 W (+6 %): a move by default, inside a 10 % dead band
    default, wide = Acceptance(), Acceptance(rules=AcceptanceRules(move_pct=10))
    for a in (default, wide):
        t = feed(a, 0.0, RAMP_S + SUSTAIN_S + 1, 7_000, 3_680)
        feed(a, t, SUSTAIN_S + 2, 7_000, 3_900)
    assert default.accept_w != 3_680 and near(default.accept_w, 3_900) and wide.accept_w == 3_680
    narrow = Acceptance(rules=AcceptanceRules(move_pct=0, move_min_w=0))
    t = feed(narrow, 0.0, RAMP_S + SUSTAIN_S + 1, 7_000, 3_680)
    feed(narrow, t, SUSTAIN_S + 2, 7_000, 3_700)
    assert narrow.accept_w == 3_700


@pytest.mark.parametrize("key", ACCEPTANCE_KEYS)
def test_a_rule_outside_its_range_is_refused(key):
    r = RANGES[key]
    for bad in (
        r.low if r.low_open else r.low - 1,
        r.high if r.high_open else r.high + 1,
        math.nan,
    ):
        with pytest.raises(ValueError, match=key):
            AcceptanceRules(**{key.removeprefix("orderly_"): bad})
        with pytest.raises(PolicyError, match=key):
            Policy(**{key: bad})
    with pytest.raises(ValueError, match="min_readings"):
        AcceptanceRules(min_readings=0)


rules_in_range = st.builds(
    AcceptanceRules,
    **{
        k.removeprefix("orderly_"): st.floats(RANGES[k].low, RANGES[k].high, allow_nan=False)
        for k in ACCEPTANCE_KEYS
    },
)


@given(rules=rules_in_range, limit=st.integers(1_000, 22_000), share=st.floats(0.05, 1.0))
@settings(max_examples=200, deadline=None)
def test_any_rules_learn_a_steady_shortfall_once_ramp_and_sustain_have_passed(rules, limit, share):
    """A car steadily taking `taken` of `limit`: a clear shortfall is learned as exactly what
    it takes within ramp + sustain (and the readings the window needs); a car that is not
    clearly short teaches nothing."""
    taken = max(1, int(limit * share))
    a = Acceptance(rules=rules)
    feed(a, 0.0, rules.ramp_s + max(rules.sustain_s, rules.min_readings - 1) + 2, limit, taken)
    assert a.accept_w == (taken if rules.falls_short(limit, taken) else None)


# ---- the planner, for a car taking less than the pile -------------------------------------


def car_gets_wh(s: Slot, ceiling_w: int, accept_w: int) -> int:
    """What a car taking at most `accept_w` draws through the slot under `ceiling_w`."""
    return min(ceiling_w, accept_w) * (s.end_ms - s.start_ms) // HOUR_MS


def can_give_at_wh(s: Slot, max_w: int, min_w: int, accept_w: int) -> int:
    """What one slot can give this car, from the inputs: the pile's power there is the lower of
    its maximum and the headroom (none below its minimum); the car takes at most accept_w."""
    w = min(max_w, s.headroom_w)
    if w < max(1, min_w):
        return 0
    return min(w, accept_w) * (s.end_ms - s.start_ms) // HOUR_MS


@SETTINGS
@given(
    slot_lists(),
    st.integers(0, 400_000),
    st.integers(1, 250_000),
    st.integers(0, 20_000),
    st.floats(0.05, 0.99),
)
def test_a_car_taking_less_gets_a_feasible_deadline_and_never_above_the_headroom(
    slots, energy, max_w, min_w, share
):
    accept = max(1, int(max_w * share))  # below the pile's power
    p = plan(slots, energy, max_w, min_w, accept_w=accept)
    for s, w, e in zip(slots, p.power_w, p.energy_wh, strict=True):
        assert 0 <= w <= min(max_w, s.headroom_w), "planned above the transformer's headroom"
        assert w == 0 or w >= min_w
        # the plan counts in each slot on no more than the car really gets there
        assert 0 <= e <= car_gets_wh(s, w, accept)
    available = sum(can_give_at_wh(s, max_w, min_w, accept) for s in slots)
    if energy <= 0:
        assert p.status == DONE
    elif not slots:
        assert p.status == PAST_DEPARTURE
    elif available >= energy:
        assert p.status == ON_TRACK, "missed a deadline the car can make"
        # the car, drawing what it takes under each slot's ceiling, has the energy by the end
        assert (
            sum(car_gets_wh(s, w, accept) for s, w in zip(slots, p.power_w, strict=True)) >= energy
        )
    else:
        assert p.status == CANNOT_MEET and p.expected_wh == available


def test_a_slot_used_in_full_keeps_the_piles_power_as_its_ceiling():
    h = HOUR_MS
    slots = [
        Slot(0, h, 3_000, 100_000),
        Slot(h, 2 * h, 3_000, 100_000),
        Slot(2 * h, 3 * h, 9_000, 100_000),
    ]
    assert plan(slots, 7_000, 7_000).power_w == (7_000, 0, 0)
    # the car takes 3.6 kW: both valley hours, the first to the pile's power (a car that takes
    # more can show it), the second at what the rest needs
    p = plan(slots, 7_000, 7_000, accept_w=3_600)
    assert (
        p.power_w == (7_000, 3_400, 0) and p.energy_wh == (3_600, 3_400, 0) and p.accept_w == 3_600
    )
    # 8 kWh is more than 3 hours at 2.5 kW: said, with what it will have
    p = plan(slots, 8_000, 7_000, accept_w=2_500)
    assert p.status == CANNOT_MEET and p.expected_wh == 7_500 and p.power_w == (7_000, 7_000, 7_000)


# ---- the loop: planner, learner and a car ------------------------------------------------------

STEP_S = 5


def remaining(slots: list[Slot], now_ms: int) -> list[Slot]:
    return [
        Slot(max(s.start_ms, now_ms), s.end_ms, s.price_e4, s.headroom_w)
        for s in slots
        if s.end_ms > now_ms
    ]


@st.composite
def minute_slots(draw):
    n = draw(st.integers(1, 8))
    t = draw(st.integers(0, 10**6)) * 60_000
    out = []
    for _ in range(n):
        length = draw(st.integers(5, 60)) * 60_000
        headroom = draw(st.one_of(st.integers(0, 30_000), st.just(100_000)))
        out.append(Slot(t, t + length, draw(st.integers(0, 20_000)), headroom))
        t += length
    return out


@settings(max_examples=150, deadline=None)
@given(
    minute_slots(),
    st.integers(1, 30_000),
    st.integers(3_000, 22_000),
    st.sampled_from([0, 1_400]),
    st.floats(0.1, 0.85),
)
def test_the_loop_learns_the_car_and_meets_what_it_can_from_then_on(
    slots, energy, max_w, min_w, share
):
    car_w = int(max_w * share)  # what the car takes: clearly below the pile's power
    learner = Acceptance()
    delivered = 0.0
    kept = None
    learned_at: tuple[int, float] | None = None
    limit = None
    t_ms = slots[0].start_ms
    end_ms = slots[-1].end_ms
    while t_ms < end_ms and delivered < energy:
        slot = next(s for s in slots if s.start_ms <= t_ms < s.end_ms)
        left = math.ceil(energy - delivered - 1e-9)
        accept = learner.accept_w
        if kept is None or t_ms >= kept.slots[0].end_ms or kept.accept_w != accept:
            kept = plan(remaining(slots, t_ms), left, max_w, min_w, accept_w=accept)
        limit = kept.power_now_w or 0
        assert limit <= min(max_w, slot.headroom_w), "a limit above the transformer's headroom"
        draw = min(limit, car_w)
        learner.observe(t_ms / 1000, limit, draw, draw > 0)
        if learned_at is None and learner.accept_w is not None:
            learned_at = (t_ms, delivered)
            assert learner.accept_w == car_w, "learned other than what the car takes"
        delivered = min(float(energy), delivered + draw * STEP_S / 3600)
        t_ms += STEP_S * 1000
    if learned_at is not None:
        at, had = learned_at
        can = sum(can_give_at_wh(s, max_w, min_w, car_w) for s in remaining(slots, at))
        if can >= math.ceil(energy - had - 1e-9):
            assert delivered >= energy - 1e-6, (
                "missed a deadline the car could make once it was known"
            )


def test_the_loop_replans_once_the_car_is_known():
    """Two valley hours before a dear one: planned as one hour at 7 kW, the car takes 3.5 kW;
    once learned the plan fills the second valley hour and the energy is in by its end."""
    h = HOUR_MS
    slots = [
        Slot(0, h, 3_000, 100_000),
        Slot(h, 2 * h, 3_000, 100_000),
        Slot(2 * h, 3 * h, 9_000, 100_000),
    ]
    learner = Acceptance()
    delivered, t_ms, kept = 0.0, 0, None
    while delivered < 7_000 and t_ms < 3 * h:
        if kept is None or t_ms >= kept.slots[0].end_ms or kept.accept_w != learner.accept_w:
            kept = plan(
                remaining(slots, t_ms),
                math.ceil(7_000 - delivered),
                7_000,
                accept_w=learner.accept_w,
            )
        draw = min(kept.power_now_w or 0, 3_500)
        learner.observe(t_ms / 1000, kept.power_now_w, draw, draw > 0)
        delivered += draw * STEP_S / 3600
        t_ms += STEP_S * 1000
    assert learner.accept_w == 3_500
    assert delivered >= 7_000 and t_ms <= 2 * h  # in the valley, with the second hour
