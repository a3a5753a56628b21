"""The share policy: headroom under the target, water-filling, priorities, pausing, starts.

400 kVA, target 40 % = 160 kVA (so the load stays in the normal band), power factor 1 and no
resume margin unless a test says so: the headroom in W is simply 160 000 − base load.
"""

from __future__ import annotations

from loadctl_support import NOW, RATED_KVA, idle, running, state

from edge.loadctl import Level, MeterSample, Policy, StationSnapshot, decide
from edge.loadctl.share import ALARM_OVER_TARGET, waterfill

TARGET_VA = 160_000


def share(**changes) -> Policy:
    opts = {
        "mode": "share",
        "dwell_s": 0.0,
        "power_factor": 1.0,
        "resume_margin_pct": 0.0,
        "share_target_pct": 40.0,
    }
    opts.update(changes)
    return Policy(**opts)


def snap(headroom_w: int, guns, previous=None) -> StationSnapshot:
    """A station whose base load leaves `headroom_w` under the target (S includes the guns)."""
    draw = sum(g.power_w for g in guns if g.planned)
    s = TARGET_VA - headroom_w + draw
    return StationSnapshot(
        rated_kva=RATED_KVA,
        meter=MeterSample(NOW - 0.5, s, s),
        guns=tuple(guns),
        previous=previous or state(),
    )


def test_waterfill_equal_shares_and_caps():
    assert waterfill([(0, 60_000), (0, 60_000)], 40_000) == [20_000, 20_000]
    assert waterfill([(0, 7_000), (0, 60_000)], 40_000) == [7_000, 33_000]
    assert waterfill([(0, 7_000), (0, 60_000)], 100_000) == [7_000, 60_000]
    assert waterfill([(10_000, 60_000), (0, 60_000)], 12_000) == [10_000, 2_000]
    assert waterfill([(5_000, 60_000), (5_000, 60_000), (0, 60_000)], 10_000) == [5_000] * 2 + [0]
    assert waterfill([(0, 10), (0, 10), (0, 10)], 10) == [3, 3, 3]  # floors, never above
    assert waterfill([], 10) == []


def test_headroom_is_shared_equally():
    guns = [running("P1-1", power=10_000), running("P1-2", power=30_000)]
    d = decide(snap(40_000, guns), share(), NOW)
    assert d.limits == {"P1-1": 20_000, "P1-2": 20_000}


def test_a_gun_capped_below_its_share_frees_the_rest():
    guns = [running("P1-1", rated=7_000), running("P1-2", cap=30_000), running("P1-3")]
    d = decide(snap(50_000, guns), share(), NOW)
    assert d.limits == {"P1-1": 7_000, "P1-2": 21_500, "P1-3": 21_500}
    d = decide(snap(90_000, guns), share(), NOW)
    assert d.limits == {"P1-1": 7_000, "P1-2": 30_000, "P1-3": 53_000}


def test_plenty_of_headroom_gives_every_gun_its_cap():
    guns = [running("P1-1"), running("P1-2", cap=30_000)]
    assert decide(snap(150_000, guns), share(), NOW).limits == {"P1-1": 60_000, "P1-2": 30_000}


def test_higher_priority_tier_is_served_first_above_the_minimums():
    guns = [
        running("P1-1", minimum=5_000, priority=1),
        running("P1-2", minimum=5_000, priority=0),
        running("P1-3", minimum=0, priority=0),
    ]
    d = decide(snap(40_000, guns), share(), NOW)
    assert d.limits == {"P1-1": 35_000, "P1-2": 5_000, "P1-3": 0}
    d = decide(snap(100_000, guns), share(), NOW)
    assert d.limits == {"P1-1": 60_000, "P1-2": 20_000, "P1-3": 20_000}


def test_most_recently_started_is_paused_first():
    guns = [
        running("P1-1", minimum=6_000, started_at=50.0),
        running("P1-2", minimum=6_000, started_at=80.0),
        running("P1-3", minimum=6_000, started_at=10.0),
    ]
    d = decide(snap(13_000, guns), share(), NOW)
    assert d.limits == {"P1-1": 6_500, "P1-2": 0, "P1-3": 6_500}
    d = decide(snap(11_000, guns), share(), NOW)
    assert d.limits == {"P1-1": 0, "P1-2": 0, "P1-3": 11_000}


def test_lowest_priority_is_paused_first():
    guns = [
        running("P1-1", minimum=6_000, priority=0, started_at=1.0),
        running("P1-2", minimum=6_000, priority=2, started_at=90.0),
    ]
    d = decide(snap(10_000, guns), share(), NOW)
    assert d.limits == {"P1-1": 0, "P1-2": 10_000}


def test_a_smaller_gun_further_down_still_runs_when_a_bigger_one_does_not_fit():
    guns = [
        running("P1-1", minimum=50_000, priority=1),
        running("P1-2", minimum=1_400, priority=0),
    ]
    d = decide(snap(40_000, guns), share(), NOW)
    assert d.limits == {"P1-1": 0, "P1-2": 40_000}


def test_base_load_above_target_pauses_everything():
    guns = [running("P1-1", power=20_000), running("P1-2", minimum=0), idle("P1-3")]
    d = decide(snap(-30_000, guns), share(), NOW)
    assert d.limits == {"P1-1": 0, "P1-2": 0}
    assert d.start_caps == {} and ALARM_OVER_TARGET in d.alarms


def test_new_start_allowed_only_if_it_gets_its_minimum():
    guns = [running("P1-1", minimum=6_000, power=6_000), idle("P1-2", minimum=6_000)]
    d = decide(snap(20_000, guns), share(), NOW)
    assert d.start_caps == {"P1-2": 60_000}  # the session cap: the rule's, not today's share
    assert d.start_limits == {"P1-2": 0}  # P1-1 holds all 20 kW until the next tick
    started = [guns[0], running("P1-2", minimum=6_000, cap=60_000, starting=True)]
    d = decide(snap(20_000, started, d.state), share(), NOW)
    assert d.limits == {"P1-1": 10_000, "P1-2": 10_000}
    d = decide(snap(11_000, guns), share(), NOW)
    assert d.may_start and d.start_caps == {}  # would pause P1-1 or get less than 6 kW


def test_new_start_may_not_pause_a_running_session_even_with_higher_priority():
    guns = [running("P1-1", minimum=6_000), idle("P1-2", minimum=6_000, priority=5)]
    d = decide(snap(10_000, guns), share(), NOW)
    assert d.start_caps == {}


def test_new_start_with_no_minimum_needs_some_power():
    guns = [running("P1-1", minimum=0, priority=3), idle("P1-2", minimum=0)]
    d = decide(snap(10_000, guns), share(), NOW)
    assert d.start_caps == {}  # the higher tier takes all 10 kW: nothing left for a start
    d = decide(snap(100_000, guns), share(), NOW)
    assert d.start_caps == {"P1-2": 60_000} and d.start_limits == {"P1-2": 40_000}


def test_capped_level_caps_starts_in_share_mode_too():
    guns = [idle("P1-1")]
    s = StationSnapshot(RATED_KVA, MeterSample(NOW - 0.5, 240_000, 240_000), tuple(guns), state())
    d = decide(s, share(share_target_pct=80.0), NOW)  # 60 %: capped, 80 kW headroom
    assert d.level == Level.CAPPED
    assert d.start_caps == {"P1-1": 30_000} and d.start_limits == {"P1-1": 30_000}


def test_blocked_level_still_shares_but_allows_no_start():
    guns = [running("P1-1", power=10_000), idle("P1-2")]
    s = StationSnapshot(RATED_KVA, MeterSample(NOW - 0.5, 330_000, 330_000), tuple(guns), state())
    d = decide(s, share(share_target_pct=80.0), NOW)
    assert d.level == Level.BLOCKED and not d.may_start and d.start_caps == {}
    assert d.limits == {"P1-1": 0}  # base 320 kVA = target: no headroom


def test_a_starting_gun_is_planned():
    guns = [running("P1-1", power=20_000), running("P1-2", starting=True), idle("P1-3")]
    d = decide(snap(40_000, guns), share(), NOW)
    assert d.limits == {"P1-1": 20_000, "P1-2": 20_000}


def test_a_gun_whose_minimum_exceeds_its_cap_is_paused():
    guns = [running("P1-1", minimum=40_000, cap=30_000), running("P1-2")]
    d = decide(snap(100_000, guns), share(), NOW)
    assert d.limits == {"P1-1": 0, "P1-2": 60_000}


def test_power_factor_converts_watts_to_volt_amperes():
    p = share(power_factor=0.9, share_target_pct=80.0)
    g = running("P1-1", power=9_000)  # 10 kVA
    s = StationSnapshot(RATED_KVA, MeterSample(NOW - 0.5, 310_000, 0), (g,), state())
    # base = 310 000 − 10 000 = 300 000 VA; headroom = 20 000 VA × 0.9 = 18 000 W
    assert decide(s, p, NOW).limits == {"P1-1": 18_000}


def test_a_paused_gun_resumes_only_with_margin():
    p = share(resume_margin_pct=1.0)  # 4 kW on 400 kVA
    guns = [running("P1-1", minimum=6_000)]
    paused = state(limits={"P1-1": 0})
    assert decide(snap(8_000, guns, paused), p, NOW).limits == {"P1-1": 0}
    assert decide(snap(10_000, guns, paused), p, NOW).limits == {"P1-1": 10_000}
    running_before = state(limits={"P1-1": 7_000})
    assert decide(snap(8_000, guns, running_before), p, NOW).limits == {"P1-1": 8_000}
    new = [idle("P1-1", minimum=6_000)]
    assert decide(snap(8_000, new), p, NOW).start_caps == {}
    assert decide(snap(10_000, new), p, NOW).start_caps == {"P1-1": 60_000}


def test_rebalances_as_sessions_come_and_go():
    p = share()
    a, b = running("P1-1", power=30_000), running("P1-2", power=30_000)
    d = decide(snap(60_000, [a, b]), p, NOW)
    assert d.limits == {"P1-1": 30_000, "P1-2": 30_000}
    d = decide(snap(60_000, [a, idle("P1-2")], d.state), p, NOW)
    assert d.limits == {"P1-1": 60_000}


def test_first_limits_of_simultaneous_starts_share_what_is_free():
    guns = [idle("P1-1"), idle("P1-2"), idle("P1-3", minimum=8_000)]
    d = decide(snap(20_000, guns), share(), NOW)
    assert set(d.start_caps) == {"P1-1", "P1-2", "P1-3"}  # each could start on its own
    # 20 kW free, split three ways: 6 666 W each, below P1-3's minimum → 0 for it
    assert d.start_limits == {"P1-1": 6_666, "P1-2": 6_666, "P1-3": 0}
