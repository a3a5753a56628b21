"""The customer's rule as a table (shape of evcc's core/circuit/circuit_test.go).

400 kVA transformer, defaults: capped above 50 %, blocked above 80 %, starts capped at 50 %
of rated, hysteresis 5 points, no dwell (dwell has its own tests).
"""

from __future__ import annotations

import pytest
from loadctl_support import idle, policy, running, state, station

from edge.loadctl import ALARM_OVER_RATED, Level, decide

N, C, B = Level.NORMAL, Level.CAPPED, Level.BLOCKED

# load %, previous band, expected level, may_start, start cap of an idle 60 kW gun
RULE = [
    (0.0, N, N, True, 60_000),
    (10.0, N, N, True, 60_000),
    (50.0, N, N, True, 60_000),  # "above 50 %" is strict
    (50.1, N, C, True, 30_000),
    (65.0, N, C, True, 30_000),
    (80.0, N, C, True, 30_000),  # "above 80 %" is strict
    (80.1, N, B, False, None),
    (95.0, N, B, False, None),
    (85.0, C, B, False, None),
    (60.0, C, C, True, 30_000),
    (46.0, C, C, True, 30_000),  # inside the hysteresis band: hold
    (45.0, C, C, True, 30_000),  # down only below 50 − 5
    (44.9, C, N, True, 60_000),
    (0.0, C, N, True, 60_000),
    (79.0, B, B, False, None),
    (75.0, B, B, False, None),  # down only below 80 − 5
    (74.9, B, C, True, 30_000),
    (46.0, B, C, True, 30_000),  # leaving blocked lands in capped's hysteresis band
    (44.9, B, C, True, 30_000),  # one band at a time: capped first, normal at a following tick
    (100.0, N, B, False, None),
]


@pytest.mark.parametrize("mode", ["threshold", "share"])
@pytest.mark.parametrize(("pct", "band", "level", "may_start", "start_cap"), RULE)
def test_rule(mode, pct, band, level, may_start, start_cap):
    snap = station(pct, guns=(idle("P1-1"),), previous=state(band))
    d = decide(snap, policy(mode=mode), now=100.0)
    assert d.level == level
    assert d.may_start is may_start
    assert d.load_pct == pytest.approx(pct)
    if mode == "share" and pct >= 75.0:
        # share: the gun does not fit under the 80 % target there; elsewhere the same cap
        assert d.start_caps.get("P1-1") is None
    else:
        assert d.start_caps.get("P1-1") == start_cap
    assert d.state.level == level and d.state.band == level
    assert d.reason


# Exactly at a threshold for ratings whose VA are not round in binary (decimal kVA too):
# exactly 50.0 % is not capped and exactly 80.0 % not blocked, one VA more is.
RATINGS = [400.0, 160.0, 31.5, 32.3, 64.1, 123.7, 128.2, 130.7, 2000.0, 0.1, 1250.5]


@pytest.mark.parametrize("rated", RATINGS)
@pytest.mark.parametrize(("pct", "at", "over"), [(50, N, C), (80, C, B)])
def test_thresholds_are_exact_for_any_rating(rated, pct, at, over):
    from fractions import Fraction

    from edge.loadctl import MeterSample

    s_exact = Fraction(str(rated)) * 1000 * pct / 100
    assert s_exact.denominator == 1  # every rating here has a whole VA on both thresholds
    s = int(s_exact)
    for s_va, level in ((s, at), (s + 1, over)):
        snap = station(0.0, guns=(idle("P1-1"),), rated_kva=rated)
        snap = snap.__class__(rated, MeterSample(99.5, s_va, s_va), snap.guns, state(N))
        assert decide(snap, policy(), now=100.0).level == level, (rated, s_va)


@pytest.mark.parametrize("rated", [16.1, 32.2, 64.4, 400.0])
@pytest.mark.parametrize(("pct", "band", "lower"), [(45, C, N), (75, B, C)])
def test_release_thresholds_are_exact_for_any_rating(rated, pct, band, lower):
    """Exactly threshold − hysteresis holds the band; one VA less lets it go."""
    from fractions import Fraction

    from edge.loadctl import MeterSample

    s = Fraction(str(rated)) * 1000 * pct / 100
    assert s.denominator == 1
    for s_va, level in ((int(s), band), (int(s) - 1, lower)):
        snap = station(0.0, rated_kva=rated)
        snap = snap.__class__(rated, MeterSample(99.5, s_va, s_va), (), state(band))
        assert decide(snap, policy(), now=100.0).level == level, (rated, s_va)


# In share mode the start cap is the rule's too: the table must fail if it were not.
SHARE_CAPS = [(10.0, 60_000), (50.0, 60_000), (50.1, 30_000), (65.0, 30_000), (80.0, 30_000)]


@pytest.mark.parametrize(("pct", "cap"), SHARE_CAPS)
def test_share_mode_start_caps_follow_the_rule(pct, cap):
    # share target at 80 %, plenty of room for one 60 kW gun below it at every load here
    # but 80 %: there the gun is not offered a start at all
    d = decide(station(pct, guns=(idle("P1-1"),)), policy(mode="share"), now=100.0)
    if pct >= 80.0:
        assert "P1-1" not in d.start_caps
    else:
        assert d.start_caps == {"P1-1": cap}
        assert 0 < d.start_limits["P1-1"] <= cap


def test_start_cap_never_below_the_guns_minimum():
    """A session whose cap is below its minimum could only be paused: it does not start."""
    gun = idle("P1-1", rated=10_000, minimum=6_000)
    d = decide(station(60.0, guns=(gun,)), policy(), now=100.0)
    assert d.level == C and d.may_start and "P1-1" not in d.start_caps
    d = decide(station(10.0, guns=(gun,)), policy(), now=100.0)
    assert d.start_caps == {"P1-1": 10_000}


def test_running_sessions_keep_the_cap_they_started_with():
    guns = (
        running("P1-1", cap=30_000, power=29_000),  # started while capped
        running("P1-2", cap=None, power=50_000),  # started in normal: rated
        running("P2-1", rated=7_000, cap=90_000),  # a cap above rated never raises it
        idle("P2-2"),
    )
    for pct in (10.0, 60.0, 90.0):
        d = decide(station(pct, guns=guns), policy(), now=100.0)
        assert d.limits == {"P1-1": 30_000, "P1-2": 60_000, "P2-1": 7_000}
        assert set(d.start_caps) <= {"P2-2"}  # running guns are never offered a start


def test_starting_gun_gets_a_limit_and_no_start_cap():
    guns = (running("P1-1", cap=30_000, starting=True), idle("P1-2"))
    d = decide(station(60.0, guns=guns), policy(), now=100.0)
    assert d.limits == {"P1-1": 30_000}
    assert d.start_caps == {"P1-2": 30_000}


def test_cap_power_pct_and_thresholds_are_parameters():
    p = policy(cap_above_pct=40.0, block_above_pct=90.0, cap_power_pct=25.0, hysteresis_pct=2.0)
    guns = (idle("P1-1"),)
    assert decide(station(40.5, guns=guns), p, 100.0).start_caps == {"P1-1": 15_000}
    assert decide(station(85.0, guns=guns), p, 100.0).level == C
    assert decide(station(90.5, guns=guns), p, 100.0).level == B
    d = decide(station(38.5, guns=guns, previous=state(C)), p, 100.0)
    assert d.level == C  # 38.5 ≥ 40 − 2
    assert decide(station(37.9, guns=guns, previous=state(C)), p, 100.0).level == N


def test_overload_alarm():
    d = decide(station(101.0), policy(), now=100.0)
    assert d.level == B and ALARM_OVER_RATED in d.alarms
    assert decide(station(99.0), policy(), now=100.0).alarms == ()
