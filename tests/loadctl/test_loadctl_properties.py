"""Properties under any sequence of loads, sessions and meter losses.

A small station simulator threads `previous` through `decide` the way the gateway does,
starts sessions only where a decision allows them and checks every decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction

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
SETTINGS = settings(max_examples=300, deadline=None)


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
        emergency_above_pct=draw(st.floats(max(block_above, 60.0), 120.0)),
        pile_sessions=draw(st.sampled_from(["wait", "stop"])),
        meter_implausible_s=draw(st.sampled_from([1.0, 5.0, 15.0])),
    )


gun_specs = st.tuples(
    st.sampled_from([7_000, 30_000, 60_000, 120_000]),  # rated
    st.sampled_from([0, 1_400, 6_000, 20_000]),  # minimum
    st.integers(0, 2),  # priority
)

steps = st.tuples(
    st.floats(0.1, 6.0),  # seconds since the previous tick
    # a new base load reading (%), or none; often one of a few loads in and between the bands
    st.one_of(st.none(), st.floats(0.0, 110.0), st.sampled_from([5.0, 30.0, 47.0, 60.0, 70.0,
                                                                 77.0, 90.0, 104.0])),
    st.lists(  # things the guns' users, cars, piles and the gateway do this tick
        st.tuples(
            st.integers(0, len(GUN_IDS) - 1),
            st.sampled_from(["start", "pile_start", "stop", "draw", "restart", "lose_meter",
                             "lie"]),
            st.floats(0.0, 1.0),
        ),
        max_size=4,
    ),
)


@dataclass
class Sim:
    """The station as the gateway sees it. A pile obeys the last limit written to it
    (`limit_active_w`), for idle guns too (their start cap), so a session the pile starts
    by itself begins at that limit; the gateway adopts it with its cap pending."""

    guns: dict[str, GunSnapshot]

    def snapshot(self, meter: MeterSample | None, previous: LoadState) -> StationSnapshot:
        return StationSnapshot(RATED_KVA, meter, tuple(self.guns.values()), previous)

    def apply(self, d: Decision, events, now: float) -> None:
        for gid, g in self.guns.items():
            if g.planned:
                limit = d.limits.get(gid, 0)
            else:
                limit = d.start_limits.get(gid, d.start_caps.get(gid, 0))
            if g.starting:  # a start requested last tick is charging now
                g = replace(g, starting=False, session_active=True, state=GunState.CHARGING)
            if gid in d.fixed_caps:
                g = replace(g, cap_pending=False, session_cap_w=d.fixed_caps[gid])
            if gid in d.refused:
                g = _stopped(g)
            self.guns[gid] = replace(g, power_w=min(g.power_w, limit) if g.planned else 0,
                                     limit_active_w=limit)
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
            elif what == "pile_start" and not g.planned:
                # button / unknown card / free vend at the pile: it draws what it obeys
                active = g.limit_active_w or 0
                self.guns[gid] = replace(
                    g, session_active=True, cap_pending=True, session_cap_w=None,
                    started_at=now, state=GunState.CHARGING,
                    power_w=math.floor(frac * active),
                )
            elif what == "stop" and g.planned:
                self.guns[gid] = _stopped(g)
            elif what == "draw" and g.session_active:
                self.guns[gid] = replace(g, power_w=math.floor(frac * (g.limit_active_w or 0)))


def _stopped(g: GunSnapshot) -> GunSnapshot:
    return replace(g, session_active=False, starting=False, session_cap_w=None, cap_pending=False,
                   started_at=None, power_w=0, state=GunState.PLUGGED)


@dataclass
class Dwell:
    """The test's own record of since when the load has been below each release threshold
    (exact comparison), reset by failsafe, as the docs define the dwell."""

    below_block: float | None = None
    below_cap: float | None = None

    def update(self, d: Decision, s_va: int | None, p: Policy, now: float) -> None:
        if d.level == Level.FAILSAFE or s_va is None:
            self.below_block = self.below_cap = None
            return
        if _below(s_va, p.block_above_pct - p.hysteresis_pct):
            self.below_block = now if self.below_block is None else self.below_block
        else:
            self.below_block = None
        if _below(s_va, p.cap_above_pct - p.hysteresis_pct):
            self.below_cap = now if self.below_cap is None else self.below_cap
        else:
            self.below_cap = None


def _below(s_va: int, pct: float) -> bool:
    return s_va * 100 < Fraction(str(pct)) * Fraction(str(RATED_KVA)) * 1000


def _above(s_va: int, pct: float) -> bool:
    return s_va * 100 > Fraction(str(pct)) * Fraction(str(RATED_KVA)) * 1000


def check(snap: StationSnapshot, p: Policy, now: float, d: Decision, dwell: Dwell) -> None:
    prev = snap.previous
    guns = {g.gun: g for g in snap.guns}
    planned = {gid for gid, g in guns.items() if g.planned}
    pending = {gid for gid in planned if guns[gid].cap_pending}

    assert d.state.level == d.level and dict(d.state.limits) == d.limits
    assert set(d.limits) == planned
    assert d.reason

    # no start while blocked or in failsafe; starts only on idle guns, within the rule
    if not d.level.admits_starts:
        assert not d.may_start and d.start_caps == {} and d.start_limits == {}
        assert d.fixed_caps == {}
    assert set(d.start_limits) == set(d.start_caps) <= set(guns) - planned
    for gid, cap in d.start_caps.items():
        g = guns[gid]
        assert 0 < cap <= g.rated_power_w and cap >= g.min_power_w
        assert 0 <= d.start_limits[gid] <= cap
        if d.level == Level.CAPPED:
            assert cap <= g.rated_power_w * p.cap_power_pct / 100

    # sessions the pile started: the level's start cap, or held at 0 W (or ended)
    assert set(d.fixed_caps) | set(d.refused) <= pending
    for gid in pending:
        if gid in d.fixed_caps:
            cap = d.fixed_caps[gid]
            assert 0 < cap <= guns[gid].rated_power_w and d.limits[gid] <= cap
            if d.level == Level.CAPPED:
                assert cap <= guns[gid].rated_power_w * p.cap_power_pct / 100
        else:
            assert d.limits[gid] == 0

    # limits never above a gun's rated power or session cap
    for gid, limit in d.limits.items():
        assert 0 <= limit <= guns[gid].cap_w

    meter = snap.meter
    meter_fresh = meter is not None and now - meter.taken_at <= p.meter_timeout_s
    if not meter_fresh:
        assert d.level == Level.FAILSAFE
    elif d.level == Level.FAILSAFE:
        assert d.alarms == ("meter_implausible",)

    # the dwell: a band is left only after dwell_s below its release threshold, one at a time
    before, after = prev.band, d.state.band
    assert not (before == Level.BLOCKED and after == Level.NORMAL)
    if before == Level.BLOCKED and after == Level.CAPPED:
        assert dwell.below_block is not None and now - dwell.below_block >= p.dwell_s
    if before == Level.CAPPED and after == Level.NORMAL:
        assert dwell.below_cap is not None and now - dwell.below_cap >= p.dwell_s

    if d.level == Level.FAILSAFE:
        assert d.alarms and d.load_pct is None
        for gid, limit in d.limits.items():  # never raised, no exemption
            on_record = [w for w in (prev.limit_of(gid), guns[gid].limit_active_w) if w is not None]
            assert limit <= min(on_record, default=0)
        return

    assert meter is not None and d.load_pct is not None
    s_va = meter.s_total_va
    if _above(s_va, p.block_above_pct):
        assert d.level == Level.BLOCKED
    elif _above(s_va, p.cap_above_pct):
        assert d.level in (Level.CAPPED, Level.BLOCKED)
    if d.level == Level.NORMAL and prev.band == Level.NORMAL:
        assert not _above(s_va, p.cap_above_pct)

    # above the emergency threshold: cut until the expected load is under emergency −
    # hysteresis, or every drawing gun is at 0
    if _above(s_va, p.emergency_above_pct):
        assert "load_above_emergency" in d.alarms
        expected = s_va - sum(max(0, guns[g].power_w - w) for g, w in d.limits.items())
        line = (Fraction(str(p.emergency_above_pct - p.hysteresis_pct))
                * Fraction(str(RATED_KVA)) * 10)
        assert expected <= line or all(
            w == 0 for g, w in d.limits.items() if guns[g].power_w > 0)
    if d.shed:
        assert "load_shed" in d.alarms and not d.may_start and d.start_caps == {}

    if p.mode == "threshold":
        for gid, limit in d.limits.items():
            rule = d.fixed_caps.get(gid, 0) if gid in pending else guns[gid].cap_w
            assert limit == min(rule, d.shed.get(gid, rule))
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
    base_pct = 0.0
    lying = False
    dwell = Dwell()
    for dt, pct, events in script:
        now += dt
        kinds = {what for _, what, _ in events}
        for _, what, frac in events:
            if what == "restart":
                # the gateway restarts: decided limits, level and timers are gone; sessions
                # are not; what the piles obey is read again, or unknown (a pile without
                # the power_limit_active register)
                previous = LoadState.initial(now)
                if frac < 0.5:
                    sim.guns = {k: replace(g, limit_active_w=None) for k, g in sim.guns.items()}
        if "lie" in kinds:
            lying = not lying
        if pct is not None:
            base_pct = pct
        if pct is not None or sample is not None:
            # the meter sees the base load plus what the guns draw (or lies: 0 VA)
            draw = sum(g.power_w for g in sim.guns.values())
            s = 0 if lying else round(base_pct * RATED_KVA * 10) + draw
            sample = MeterSample(now, s, s)
        if "lose_meter" in kinds and sample is not None:
            sample = replace(sample, taken_at=now - 100.0)
        snap = sim.snapshot(sample, previous)
        d = decide(snap, p, now)
        dwell_before = Dwell(dwell.below_block, dwell.below_cap)
        fresh = sample is not None and now - sample.taken_at <= p.meter_timeout_s
        dwell_before.update(d, sample.s_total_va if fresh and sample else None, p, now)
        check(snap, p, now, d, dwell_before)
        dwell = dwell_before
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


@SETTINGS
@given(
    p=policies(),
    script=st.lists(
        st.tuples(
            st.sampled_from([0.5, 1.0, 2.0, 3.0]),
            st.one_of(st.none(), st.integers(0, 4)),  # where the load is, see _position
        ),
        min_size=1,
        max_size=30,
    ),
    dwell_s=st.sampled_from([1.0, 2.0, 3.0]),
)
def test_no_step_down_before_dwell_s_below_the_release_threshold(p, script, dwell_s):
    """Loads in every band and between the release thresholds: each step down waits
    `dwell_s` below its own band's release threshold, and goes one band at a time."""
    p = replace(p, dwell_s=dwell_s, meter_timeout_s=5.0)
    now = 0.0
    previous = LoadState.initial(now)
    sample: MeterSample | None = None
    dwell = Dwell()
    for dt, position in script:
        now += dt
        if position is not None:
            s = round(_position(p, position) * RATED_KVA * 10)
            sample = MeterSample(now, s, s)
        snap = StationSnapshot(RATED_KVA, sample, (), previous)
        d = decide(snap, p, now)
        fresh = sample is not None and now - sample.taken_at <= p.meter_timeout_s
        dwell.update(d, sample.s_total_va if fresh and sample else None, p, now)
        before, after = previous.band, d.state.band
        assert not (before == Level.BLOCKED and after == Level.NORMAL)
        if before == Level.BLOCKED and after == Level.CAPPED:
            assert dwell.below_block is not None and now - dwell.below_block >= p.dwell_s
        if before == Level.CAPPED and after == Level.NORMAL:
            assert dwell.below_cap is not None and now - dwell.below_cap >= p.dwell_s
        previous = d.state


def _position(p: Policy, n: int) -> float:
    """A load % in each region the rule distinguishes, for this policy."""
    block_release = p.block_above_pct - p.hysteresis_pct
    cap_release = p.cap_above_pct - p.hysteresis_pct
    return [
        p.block_above_pct + 5.0,  # blocked
        (block_release + p.block_above_pct) / 2,  # inside blocked's hysteresis band
        (p.cap_above_pct + block_release) / 2,  # capped, below blocked's release
        (cap_release + p.cap_above_pct) / 2,  # inside capped's hysteresis band
        cap_release / 2,  # below capped's release
    ][n]
