"""Properties under any sequence of loads, sessions and meter losses.

A small station simulator threads `previous` through `decide` the way the gateway does,
starts sessions only where a decision allows them and checks every decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.gunstate import GunState
from edge.loadctl import (
    Decision,
    GunSnapshot,
    Level,
    LoadState,
    MeterSample,
    Policy,
    StationSnapshot,
    decide,
)

RATED_KVA = 250.0
GUN_IDS = ("P1-1", "P1-2", "P2-1", "P2-2")
SETTINGS = settings(max_examples=150, deadline=None)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    cap_above = draw(st.floats(20.0, 60.0))
    block_above = draw(st.floats(cap_above + 1.0, 100.0))
    return Policy(
        mode=draw(st.sampled_from(["threshold", "share"])),
        cap_above_pct=cap_above,
        block_above_pct=block_above,
        cap_power_pct=draw(st.floats(10.0, 100.0)),
        hysteresis_pct=draw(st.floats(0.0, min(10.0, cap_above - 1.0))),
        meter_timeout_s=draw(st.floats(1.0, 5.0)),
        dwell_s=draw(st.sampled_from([0.0, 2.0, 10.0])),
        share_target_pct=draw(st.floats(10.0, block_above)),
        power_factor=draw(st.floats(0.8, 1.0)),
        resume_margin_pct=draw(st.sampled_from([0.0, 1.0, 3.0])),
    )


gun_specs = st.tuples(
    st.sampled_from([7_000, 30_000, 60_000, 120_000]),  # rated
    st.sampled_from([0, 1_400, 6_000, 20_000]),  # minimum
    st.integers(0, 2),  # priority
)

steps = st.tuples(
    st.floats(0.1, 6.0),  # seconds since the previous tick
    st.one_of(st.none(), st.floats(0.0, 130.0)),  # a new meter reading (load %), or none
    st.lists(  # things the guns' users and cars do this tick
        st.tuples(
            st.integers(0, len(GUN_IDS) - 1),
            st.sampled_from(["start", "stop", "draw"]),
            st.floats(0.0, 1.0),
        ),
        max_size=4,
    ),
)


@dataclass
class Sim:
    guns: dict[str, GunSnapshot]

    def snapshot(self, meter: MeterSample | None, previous: LoadState) -> StationSnapshot:
        return StationSnapshot(RATED_KVA, meter, tuple(self.guns.values()), previous)

    def apply(self, d: Decision, events, now: float) -> None:
        # a start requested last tick is charging now
        for gid, g in self.guns.items():
            limit = d.limits.get(gid, 0)
            if g.starting:
                g = replace(g, starting=False, session_active=True, state=GunState.CHARGING)
            self.guns[gid] = replace(g, power_w=min(g.power_w, limit) if g.planned else 0)
        for index, what, frac in events:
            gid = GUN_IDS[index]
            g = self.guns[gid]
            if what == "start" and not g.planned and gid in d.start_caps:
                self.guns[gid] = replace(
                    g,
                    starting=True,
                    session_cap_w=d.start_caps[gid],
                    started_at=now,
                    power_w=0,
                )
            elif what == "stop" and g.planned:
                self.guns[gid] = replace(
                    g,
                    session_active=False,
                    starting=False,
                    session_cap_w=None,
                    started_at=None,
                    power_w=0,
                    state=GunState.PLUGGED,
                )
            elif what == "draw" and g.session_active:
                self.guns[gid] = replace(g, power_w=math.floor(frac * d.limits.get(gid, 0)))


def check(snap: StationSnapshot, p: Policy, now: float, d: Decision) -> None:
    prev = snap.previous
    guns = {g.gun: g for g in snap.guns}
    planned = {gid for gid, g in guns.items() if g.planned}

    assert d.state.level == d.level and dict(d.state.limits) == d.limits
    assert set(d.limits) == planned
    assert d.reason

    # no start while blocked or in failsafe; starts only on idle guns, within the rule
    if not d.level.admits_starts:
        assert not d.may_start and d.start_caps == {} and d.start_limits == {}
    assert set(d.start_limits) == set(d.start_caps) <= set(guns) - planned
    for gid, cap in d.start_caps.items():
        g = guns[gid]
        assert 0 < cap <= g.rated_power_w and cap >= g.min_power_w
        assert 0 <= d.start_limits[gid] <= cap
        if d.level == Level.CAPPED:
            assert cap <= g.rated_power_w * p.cap_power_pct / 100

    # limits never above a gun's rated power or session cap
    for gid, limit in d.limits.items():
        assert 0 <= limit <= guns[gid].cap_w

    meter = snap.meter
    meter_ok = meter is not None and now - meter.taken_at <= p.meter_timeout_s
    assert (d.level == Level.FAILSAFE) == (not meter_ok)
    if d.level == Level.FAILSAFE:
        assert d.alarms and d.load_pct is None
        for gid, limit in d.limits.items():  # never raised
            before = prev.limit_of(gid)
            assert before is None or limit <= before
        return

    assert meter is not None and d.load_pct is not None
    if d.load_pct > p.block_above_pct:
        assert d.level == Level.BLOCKED
    elif d.load_pct > p.cap_above_pct:
        assert d.level in (Level.CAPPED, Level.BLOCKED)
    if d.level == Level.NORMAL and prev.band == Level.NORMAL:
        assert d.load_pct <= p.cap_above_pct

    if p.mode == "threshold":
        assert all(limit == guns[gid].cap_w for gid, limit in d.limits.items())
        return

    # share: the plan stays under the target, and a running gun gets 0 or its minimum
    target_va = RATED_KVA * 1000 * p.share_target_pct / 100
    draw_va = sum(max(0, guns[gid].power_w) for gid in planned) / p.power_factor
    base_va = max(0.0, meter.s_total_va - draw_va)
    room_w = max(0.0, (target_va - base_va) * p.power_factor)
    total = sum(d.limits.values())
    assert total <= room_w + 1e-6
    assert total / p.power_factor + base_va <= max(target_va, base_va) + 1e-6
    if base_va >= target_va:
        assert total == 0
    for gid, limit in d.limits.items():
        assert limit == 0 or limit >= guns[gid].min_power_w
    # first limits of new starts: safe next to the limits even if all start at once
    assert total + sum(d.start_limits.values()) <= room_w + 1e-6
    for gid, start_limit in d.start_limits.items():
        assert start_limit == 0 or start_limit >= guns[gid].min_power_w


@SETTINGS
@given(
    p=policies(),
    specs=st.lists(gun_specs, min_size=len(GUN_IDS), max_size=len(GUN_IDS)),
    script=st.lists(steps, min_size=1, max_size=25),
)
def test_every_decision_keeps_the_rules(p, specs, script):
    sim = Sim(
        {
            gid: GunSnapshot(
                gun=gid,
                state=GunState.PLUGGED,
                rated_power_w=rated,
                min_power_w=minimum,
                power_w=0,
                session_active=False,
                priority=prio,
            )
            for gid, (rated, minimum, prio) in zip(GUN_IDS, specs, strict=True)
        }
    )
    now = 1000.0
    previous = LoadState.initial(now)
    sample: MeterSample | None = None
    for dt, pct, events in script:
        now += dt
        if pct is not None:
            s = round(pct * RATED_KVA * 10)
            sample = MeterSample(now, s, s)
        snap = sim.snapshot(sample, previous)
        d = decide(snap, p, now)
        check(snap, p, now, d)
        previous = d.state
        sim.apply(d, events, now)


@SETTINGS
@given(
    p=policies(),
    first=st.floats(0.0, 130.0),
    wobble=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30),
)
def test_a_load_inside_the_hysteresis_band_never_lowers_the_level(p, first, wobble):
    """After any reading, loads between (threshold − hysteresis) and the threshold hold."""
    now = 0.0
    d = decide(StationSnapshot(RATED_KVA, _sample(first, now), (), LoadState.initial()), p, now)
    entered = d.level
    eps = 0.01  # keep clear of the exact edges, where VA rounding decides
    if entered == Level.BLOCKED:
        low, high = p.block_above_pct - p.hysteresis_pct + eps, p.block_above_pct + 20
    elif entered == Level.CAPPED:
        low, high = p.cap_above_pct - p.hysteresis_pct + eps, p.block_above_pct - eps
    else:
        low, high = 0.0, p.cap_above_pct - eps
    for frac in wobble:
        now += 1.0
        pct = low + frac * (high - low)
        d = decide(StationSnapshot(RATED_KVA, _sample(pct, now), (), d.state), p, now)
        assert d.level == entered


def _sample(pct: float, now: float) -> MeterSample:
    s = round(pct * RATED_KVA * 10)
    return MeterSample(now, s, s)
