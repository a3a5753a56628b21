"""No flapping around a threshold; failsafe on a missing/stale meter, and recovery."""

from __future__ import annotations

from dataclasses import replace

import pytest
from loadctl_support import idle, policy, running, state, station

from edge.loadctl import (
    ALARM_METER_MISSING,
    ALARM_METER_STALE,
    ALARM_RATED_KVA_INVALID,
    Level,
    LoadState,
    decide,
)

N, C, B, F = Level.NORMAL, Level.CAPPED, Level.BLOCKED, Level.FAILSAFE


def run(loads, p, start=None, dt=1.0, guns=()):
    """Feed a sequence of loads (None = meter lost) one tick apart; return the decisions."""
    prev = start if start is not None else state()
    out = []
    now = 100.0
    for pct in loads:
        d = decide(station(pct, guns=guns, previous=prev, now=now), p, now)
        out.append(d)
        prev = d.state
        now += dt
    return out


@pytest.mark.parametrize("mode", ["threshold", "share"])
def test_wobble_around_block_threshold_does_not_flap(mode):
    wobble = [79.0, 81.0, 79.5, 80.5, 76.0, 80.2, 75.0, 79.9, 77.0, 81.0]
    levels = [d.level for d in run(wobble, policy(mode=mode))]
    assert levels[0] == C
    assert levels[1:] == [B] * (len(wobble) - 1)


def test_wobble_around_cap_threshold_does_not_flap():
    wobble = [49.0, 51.0, 49.0, 50.5, 45.5, 52.0, 45.0, 49.9]
    levels = [d.level for d in run(wobble, policy())]
    assert levels == [N] + [C] * (len(wobble) - 1)


def test_without_hysteresis_it_would_flap():
    levels = [d.level for d in run([79.0, 81.0, 79.0, 81.0], policy(hysteresis_pct=0.0))]
    assert levels == [C, B, C, B]


def test_dwell_delays_stepping_down_and_restarts_when_the_load_comes_back():
    p = policy(dwell_s=3.0)
    # blocked; then below 75 % for 2 ticks, back to 76 %, then below for good
    loads = [85.0, 70.0, 70.0, 76.0, 70.0, 70.0, 70.0, 70.0, 70.0]
    levels = [d.level for d in run(loads, p)]
    assert levels == [B, B, B, B, B, B, B, C, C]


def test_dwell_never_delays_stepping_up():
    p = policy(dwell_s=60.0)
    assert [d.level for d in run([10.0, 55.0, 85.0], p)] == [N, C, B]


def test_stepping_down_goes_one_band_at_a_time():
    p = policy(dwell_s=2.0)
    levels = [d.level for d in run([90.0, 10.0, 10.0, 10.0, 10.0], p)]
    assert levels == [B, B, B, C, N]


def test_without_dwell_still_one_band_per_decision():
    levels = [d.level for d in run([90.0, 10.0, 10.0], policy(dwell_s=0.0))]
    assert levels == [B, C, N]


def test_a_dwell_spent_between_the_release_thresholds_does_not_count_for_the_lower_band():
    """The bug this guards: a timer started at 70 % (below 75, above 45) let one reading at
    10 % jump from blocked to normal. Below 45 % must itself last dwell_s."""
    p = policy(dwell_s=3.0)
    loads = [85.0, 70.0, 70.0, 70.0, 10.0, 10.0, 10.0, 10.0]
    levels = [d.level for d in run(loads, p)]
    #        85  70  70  70  10  10  10  10   (t = 0..7 s)
    assert levels == [B, B, B, B, C, C, C, N]


def test_each_band_has_its_own_continuous_dwell():
    p = policy(dwell_s=2.0)
    # below 45 % from t=1, but blocked until t=3; capped's own timer started at t=1 too
    loads = [85.0, 40.0, 40.0, 40.0, 46.0, 40.0, 40.0, 40.0]
    levels = [d.level for d in run(loads, p)]
    # t=3: blocked → capped; t=4: 46 % restarts capped's timer; normal at t=7
    assert levels == [B, B, B, C, C, C, C, N]


def test_relax_timer_is_in_the_state():
    p = policy(dwell_s=5.0)
    d = decide(station(60.0, previous=state(B)), p, now=100.0)
    assert d.level == B and d.state.relax_since == 100.0
    d2 = decide(station(60.0, previous=d.state, now=104.9), p, now=104.9)
    assert d2.level == B and d2.state.relax_since == 100.0
    d3 = decide(station(60.0, previous=d2.state, now=105.0), p, now=105.0)
    assert d3.level == C and d3.state.relax_since is None and d3.state.since == 105.0


def test_the_reason_names_the_time_of_day_not_monotonic_seconds():
    p = policy(dwell_s=10.0)
    wall = 1_767_250_000.0  # 2026-01-01 06:46:40 UTC = 14:46:40 in Shanghai
    snap = station(70.0, previous=state(B), now=100.0)
    d = decide(replace(snap, wall_now=wall, tz="Asia/Shanghai"), p, now=100.0)
    assert d.reason.endswith("below 75 % since 14:46:40, 10 s dwell"), d.reason
    snap = station(70.0, previous=d.state, now=103.0)
    d = decide(replace(snap, wall_now=wall + 3, tz="Asia/Shanghai"), p, now=103.0)
    assert "since 14:46:40" in d.reason and "100" not in d.reason


# -- failsafe ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["threshold", "share"])
def test_no_meter_reading_is_failsafe(mode):
    guns = (running("P1-1", cap=30_000), idle("P1-2"))
    d = decide(station(None, guns=guns), policy(mode=mode), now=100.0)
    assert d.level == F and not d.may_start and d.start_caps == {}
    assert d.alarms == (ALARM_METER_MISSING,)
    assert d.load_pct is None
    assert d.limits == {"P1-1": 0}  # no limit on record, none reported: 0, never its cap


@pytest.mark.parametrize("mode", ["threshold", "share"])
def test_failsafe_with_no_limit_on_record_holds_what_the_pile_obeys(mode):
    """After a restart (no decided limit yet) failsafe holds what the pile says it obeys now."""
    guns = (
        replace(running("P1-1", cap=None, power=20_000), limit_active_w=25_000),
        replace(running("P1-2", cap=30_000), limit_active_w=60_000),  # never above the cap
        replace(running("P1-3", cap=None), limit_active_w=None),  # says nothing: 0
    )
    d = decide(station(None, guns=guns), policy(mode=mode), now=100.0)
    assert d.level == F
    assert d.limits == {"P1-1": 25_000, "P1-2": 30_000, "P1-3": 0}
    # with a decided limit on record, the lower of the two
    prev = state(N, limits={"P1-1": 40_000, "P1-2": 10_000})
    d = decide(station(None, guns=guns, previous=prev), policy(mode=mode), now=100.0)
    assert d.limits == {"P1-1": 25_000, "P1-2": 10_000, "P1-3": 0}


@pytest.mark.parametrize(("age", "level"), [(2.9, N), (3.0, N), (3.01, F), (60.0, F)])
def test_stale_meter_is_failsafe_after_its_timeout(age, level):
    d = decide(station(10.0, guns=(idle(),), age=age), policy(), now=100.0)
    assert d.level == level
    if level == F:
        assert d.alarms == (ALARM_METER_STALE,) and not d.may_start and not d.start_caps


def test_meter_timeout_is_a_parameter():
    d = decide(station(10.0, age=5.0), policy(meter_timeout_s=10.0), now=100.0)
    assert d.level == N


@pytest.mark.parametrize("rated", [0.0, -400.0, float("nan")])
def test_unusable_rating_is_failsafe(rated):
    d = decide(station(10.0, guns=(idle(),), rated_kva=rated), policy(), now=100.0)
    assert d.level == F and d.alarms == (ALARM_RATED_KVA_INVALID,) and not d.start_caps


@pytest.mark.parametrize("mode", ["threshold", "share"])
def test_failsafe_holds_running_guns_never_raises(mode):
    guns = (
        running("P1-1", cap=60_000, power=20_000),
        running("P1-2", cap=30_000),
        running("P1-3", cap=40_000),
    )
    prev = state(N, limits={"P1-1": 20_000, "P1-2": 45_000, "P1-3": 0})
    d = decide(station(None, guns=guns, previous=prev), policy(mode=mode), now=100.0)
    assert d.limits == {"P1-1": 20_000, "P1-2": 30_000, "P1-3": 0}
    assert dict(d.state.limits) == d.limits


def test_failsafe_recovers_when_readings_return_with_hysteresis_memory():
    decisions = run([78.0, 82.0, None, None, 77.0, 70.0], policy())
    assert [d.level for d in decisions] == [C, B, F, F, B, C]
    assert decisions[2].state.band == B  # the band survives the outage


def test_failsafe_recovery_to_normal():
    decisions = run([None, None, 20.0], policy(), start=LoadState.initial(0.0))
    assert [d.level for d in decisions] == [F, F, N]
    assert decisions[-1].alarms == ()


def test_failsafe_resets_the_dwell_timer():
    p = policy(dwell_s=2.0)
    levels = [d.level for d in run([85.0, 60.0, 60.0, None, 60.0, 60.0, 60.0], p)]
    assert levels == [B, B, B, F, B, B, C]


def test_initial_state_is_failsafe_until_a_reading():
    s = LoadState.initial(5.0)
    assert s.level == F and s.since == 5.0 and s.band == N and s.limits == ()
    d = decide(station(30.0, previous=s, now=6.0), policy(), now=6.0)
    assert d.level == N and d.state.since == 6.0
