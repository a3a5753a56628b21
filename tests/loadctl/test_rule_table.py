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
    (44.9, B, N, True, 60_000),  # far enough below both: straight to normal
]


@pytest.mark.parametrize("mode", ["threshold", "share"])
@pytest.mark.parametrize(("pct", "band", "level", "may_start", "start_cap"), RULE)
def test_rule(mode, pct, band, level, may_start, start_cap):
    snap = station(pct, guns=(idle("P1-1"),), previous=state(band))
    d = decide(snap, policy(mode=mode), now=100.0)
    assert d.level == level
    assert d.may_start is may_start
    assert d.load_pct == pytest.approx(pct)
    if mode == "threshold":
        assert d.start_caps.get("P1-1") == start_cap
    else:  # share: same cap if the gun fits under the target, never more
        assert d.start_caps.get("P1-1") in (start_cap, None)
    assert d.state.level == level and d.state.band == level
    assert d.reason


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
