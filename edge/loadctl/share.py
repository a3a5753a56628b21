"""The `share` policy: the customer's rule, plus dividing the headroom among running guns.

headroom (W) = (target − base load) × power factor, where target = share_target_pct of rated
kVA and base load = S total − the planned guns' measured draw / power factor (never below 0,
so a meter/pile mismatch cannot invent headroom). The plan never exceeds the headroom.

Rule, in order:
1. Serve order: priority (higher first), then running before starting, then the session that
   started earliest, then gun id. Guns are admitted in that order while their minimum still
   fits in the headroom (a paused gun must fit with resume_margin_pct to spare); the others
   are paused (limit 0). So pausing hits the lowest priority, most recently started first,
   but a small gun further down may still run where a bigger one did not fit.
2. Every admitted gun gets its minimum. The rest goes to the highest priority tier until its
   guns reach their caps, then to the next tier (strict priority above the minimums).
3. Within a tier, water-filling: equal shares, a gun capped below its share (rated power or
   session cap) gets its cap and the rest is shared among the others.
A new start is allowed only if, planned as the newest session, it gets at least its minimum
(and at least 1 W) without pausing any gun that the plan without it runs. Its start limit is
its part of what is free now next to the current limits, split evenly among the guns that
may start (0 if below its minimum): the next tick, with the gun marked `starting`, shares the
headroom anew. So writing limits and start limits together never exceeds the target.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from itertools import groupby

from edge.loadctl.caps import held_limit, idle_guns, rule_start_cap
from edge.loadctl.level import Assessment
from edge.loadctl.model import Decision, GunSnapshot, Level, LoadState, Policy, StationSnapshot

ALARM_OVER_TARGET = "base_load_above_target"  # no headroom at all for the guns


@dataclass(frozen=True, slots=True)
class Claim:
    gun: str
    priority: int
    order: tuple[int, int, float, str]  # serve order key, see the module docstring
    lo: int  # minimum power of a running session
    hi: int  # cap: rated power or session cap
    need: int  # what must fit to admit it: lo, plus the margin when it is not powered now


@dataclass(frozen=True, slots=True)
class Plan:
    limits: dict[str, int]
    admitted: frozenset[str]


def headroom(snapshot: StationSnapshot, policy: Policy) -> tuple[int, float, float]:
    """(headroom W, base load VA, target VA). Assumes a meter reading and a valid rating."""
    assert snapshot.meter is not None
    target_va = snapshot.rated_kva * 1000.0 * policy.share_target_pct / 100.0
    draw_va = sum(max(0, g.power_w) for g in snapshot.guns if g.planned) / policy.power_factor
    base_va = max(0.0, snapshot.meter.s_total_va - draw_va)
    room = (target_va - base_va) * policy.power_factor
    return max(0, math.floor(room)), base_va, target_va


def waterfill(bounds: list[tuple[int, int]], budget: int) -> list[int]:
    """Split `budget` W: each gets clamp(λ, lo, hi) for one common level λ, rounded down.

    Needs budget ≥ Σ lo. The result never sums above the budget (floors lose < 1 W a gun).
    """
    if not bounds:
        return []
    if sum(hi for _, hi in bounds) <= budget:
        return [hi for _, hi in bounds]

    def filled(level: Fraction | int) -> Fraction | int:
        return sum(min(max(level, lo), hi) for lo, hi in bounds)

    points = sorted({v for pair in bounds for v in pair})
    level: Fraction | int = points[0]
    if filled(level) < budget:
        for low, high in zip(points, points[1:], strict=False):
            f_low, f_high = filled(low), filled(high)
            if f_high >= budget:  # f is linear between consecutive break points
                level = low + Fraction(budget - f_low) * (high - low) / (f_high - f_low)
                break
    whole = math.floor(level)
    return [min(max(whole, lo), hi) for lo, hi in bounds]


def plan(claims: Iterable[Claim], room: int) -> Plan:
    ordered = sorted(claims, key=lambda c: c.order)
    admitted: list[Claim] = []
    used = 0
    for claim in ordered:
        if claim.hi <= 0 or claim.lo > claim.hi:
            continue  # cannot run at all
        if used + claim.need <= room:
            admitted.append(claim)
            used += claim.need
    limits = {c.gun: 0 for c in ordered}
    remaining = room
    reserved_below = sum(c.lo for c in admitted)
    for _, tier_iter in groupby(admitted, key=lambda c: c.priority):
        tier = list(tier_iter)
        reserved_below -= sum(c.lo for c in tier)
        shares = waterfill([(c.lo, c.hi) for c in tier], remaining - reserved_below)
        for c, watts in zip(tier, shares, strict=True):
            limits[c.gun] = watts
        remaining -= sum(shares)
    return Plan(limits=limits, admitted=frozenset(c.gun for c in admitted))


def _claim(gun: GunSnapshot, previous: LoadState, margin: int) -> Claim:
    lo = max(0, gun.min_power_w)
    paused = previous.limit_of(gun.gun) == 0
    started = gun.started_at if gun.started_at is not None else -math.inf
    return Claim(
        gun=gun.gun,
        priority=gun.priority,
        order=(-gun.priority, 1 if gun.starting else 0, started, gun.gun),
        lo=lo,
        hi=gun.cap_w,
        need=lo + margin if paused else lo,
    )


def decide(snapshot: StationSnapshot, policy: Policy, now: float, verdict: Assessment) -> Decision:
    level = verdict.level
    previous = snapshot.previous
    planned = [g for g in snapshot.guns if g.planned]
    alarms = verdict.alarms
    if level == Level.FAILSAFE:
        limits = {g.gun: held_limit(g, previous) for g in planned}
        return Decision(
            level=level,
            load_pct=None,
            may_start=False,
            start_caps={},
            limits=limits,
            alarms=alarms,
            state=verdict.state(previous, now, limits),
            reason=f"{verdict.reason}; running guns held",
        )

    room, base_va, target_va = headroom(snapshot, policy)
    margin = math.ceil(snapshot.rated_kva * 1000.0 * policy.resume_margin_pct / 100.0)
    claims = [_claim(g, previous, margin) for g in planned]
    current = plan(claims, room)

    start_caps: dict[str, int] = {}
    shares: dict[str, tuple[int, int]] = {}  # gun → (its share once started, its minimum)
    if level.admits_starts:
        for gun in idle_guns(snapshot.guns):
            cap = rule_start_cap(gun, level, policy)
            if cap <= 0:
                continue
            lo = max(0, gun.min_power_w)
            newcomer = Claim(
                gun=gun.gun,
                priority=gun.priority,
                order=(-gun.priority, 2, math.inf, gun.gun),  # the newest session of its tier
                lo=lo,
                hi=cap,
                need=max(lo, 1) + margin,
            )
            trial = plan([*claims, newcomer], room)
            gets = trial.limits[gun.gun]
            if trial.admitted - {gun.gun} == current.admitted and gets >= max(lo, 1):
                start_caps[gun.gun] = cap
                shares[gun.gun] = (gets, lo)
    # First limits, safe next to the limits written now even if every admitted gun starts
    # at once: what is free now, split evenly; 0 rather than below a gun's minimum. The next
    # tick, with the gun `starting`, gives it its share once the others have made room.
    each = max(0, room - sum(current.limits.values())) // max(1, len(shares))
    start_limits = {
        gun: (w if (w := min(gets, each)) >= max(lo, 1) else 0)
        for gun, (gets, lo) in shares.items()
    }

    if base_va >= target_va:
        alarms = (*alarms, ALARM_OVER_TARGET)
    paused = sorted(g for g, w in current.limits.items() if w == 0)
    reason = f"{verdict.reason}; share: {room} W for {len(planned)} gun(s)" + (
        f", paused {', '.join(paused)}" if paused else ""
    )
    return Decision(
        level=level,
        load_pct=verdict.load_pct,
        may_start=level.admits_starts,
        start_caps=start_caps,
        limits=current.limits,
        alarms=alarms,
        state=verdict.state(previous, now, current.limits),
        reason=reason,
        start_limits=start_limits,
    )
