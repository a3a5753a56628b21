"""Emergency shedding: above `emergency_above_pct` (the transformer's rating, by default) the
running sessions are cut until the load is back under it, under every policy.

The customer's rule governs new starts and leaves running sessions their cap; but no
operator accepts a transformer left above its rating. So, on top of what the policy decided:

- **Cut.** While the load is above the emergency threshold, ceilings (W) are put on running
  guns until the expected load is at emergency − hysteresis: the cut still pending (guns
  drawing above their ceiling or limit, whose piles have not reacted yet) counts as done,
  so a slow pile is not cut twice. Cut first: lowest priority, then the most recently
  started, then gun id. A gun whose ceiling would fall below its minimum is paused (0 W).
  A watt of a gun is taken as a VA of the meter (power factor 1): never too little.
- **Give back, as the rule allows.** Once the load has been below emergency − hysteresis for
  `dwell_s`, the room up to that line (× power factor) is given back, highest priority and
  oldest session first, and the dwell starts again: step by step, each step seen by the
  meter before the next. A ceiling that reaches the policy's own limit is gone.
- While any gun is shed no new session starts: the shed ones get their power back first.

Pure: the ceilings live in `LoadState.shed`.
"""

from __future__ import annotations

import math

from edge.loadctl.level import above, below, va_at
from edge.loadctl.model import GunSnapshot, LoadState, Policy, StationSnapshot

ALARM_EMERGENCY = "load_above_emergency"  # load above emergency_above_pct
ALARM_SHEDDING = "load_shed"  # running sessions are cut below their limits


def _cut_order(g: GunSnapshot) -> tuple[int, float, str]:
    started = g.started_at if g.started_at is not None else -math.inf
    return (g.priority, -started, g.gun)


def shed(
    snapshot: StationSnapshot,
    policy: Policy,
    now: float,
    limits: dict[str, int],
) -> tuple[dict[str, int], tuple[tuple[str, int], ...], float | None, tuple[str, ...], str]:
    """(limits with ceilings, ceilings, give-back dwell timer, alarms, reason note).

    Needs a good meter reading and a valid rating (not for failsafe)."""
    assert snapshot.meter is not None
    previous: LoadState = snapshot.previous
    rated = float(snapshot.rated_kva)
    s_va = snapshot.meter.s_total_va
    guns = {g.gun: g for g in snapshot.guns if g.gun in limits}
    ceilings = {g: w for g, w in previous.shed if g in guns}
    line = policy.emergency_above_pct - policy.hysteresis_pct
    target_va = math.floor(va_at(line, rated))
    over = above(s_va, policy.emergency_above_pct, rated)
    relax = previous.shed_relax_since
    alarms: tuple[str, ...] = ()

    def effective(gun: str) -> int:
        return min(limits[gun], ceilings.get(gun, limits[gun]))

    if over:
        alarms = (ALARM_EMERGENCY,)
        relax = None
        pending = sum(max(0, g.power_w - effective(gid)) for gid, g in guns.items())
        need = s_va - target_va - pending
        for g in sorted(guns.values(), key=_cut_order):
            if need <= 0:
                break
            drawing = min(max(0, g.power_w), effective(g.gun))
            if drawing <= 0:
                continue
            keep = drawing - min(drawing, need)
            if 0 < keep < g.min_power_w:
                keep = 0
            ceilings[g.gun] = keep
            need -= drawing - keep
    elif ceilings:
        if below(s_va, line, rated):
            relax = now if relax is None or relax > now else relax
            if now - relax >= policy.dwell_s:
                room = math.floor((target_va - s_va) * policy.power_factor)
                for g in sorted(guns.values(), key=_cut_order, reverse=True):
                    if g.gun not in ceilings or room <= 0:
                        continue
                    ceiling = ceilings[g.gun]
                    raised = ceiling + min(room, limits[g.gun] - ceiling)
                    if 0 < raised < g.min_power_w:
                        continue  # cannot run on that little: leave it paused, try the next
                    room -= raised - ceiling
                    ceilings[g.gun] = raised
                relax = now  # the next step after another dwell, once the meter has seen this
        else:
            relax = None
    else:
        relax = None
    ceilings = {g: w for g, w in ceilings.items() if w < limits[g]}
    if ceilings:
        alarms = (*alarms, ALARM_SHEDDING)
    else:
        relax = None
    out = {g: min(w, ceilings.get(g, w)) for g, w in limits.items()}
    note = ""
    if ceilings:
        cut = sum(limits[g] - w for g, w in ceilings.items())
        note = (f"; shedding {cut} W on {len(ceilings)} gun(s) above "
                f"{policy.emergency_above_pct:g} % (back below {line:g} %)")
    return out, tuple(sorted(ceilings.items())), relax, alarms, note
