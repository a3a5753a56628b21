"""Is the transformer meter telling the truth? A meter can answer every read and still lie.

Two contradictions with what the guns themselves measure, each held for
`meter_implausible_s` before the meter is disbelieved (the guns and the meter are read at
different moments, so a short mismatch while power changes is normal):

- S total below the guns' own summed draw by more than `meter_tolerance_pct` of rated kVA
  (the transformer feeds the guns: it cannot carry less than they draw);
- S total not changing at all while the guns' summed draw moved by more than the tolerance
  in the second half of the window (readings frozen in the meter or in a converter in front
  of it; the first half lets the guns' slower polls catch up with the meter).

Pure: the caller threads the returned `MeterCheck` into the next call (in `LoadState`).
"""

from __future__ import annotations

from edge.loadctl.model import GunSnapshot, MeterCheck, MeterSample, Policy


def check_meter(
    meter: MeterSample,
    guns: tuple[GunSnapshot, ...],
    rated_kva: float,
    policy: Policy,
    previous: MeterCheck | None,
) -> MeterCheck:
    prev = previous or MeterCheck()
    if prev.taken_at is not None and meter.taken_at <= prev.taken_at:
        return prev  # the same reading again: nothing new to judge
    at = meter.taken_at
    s = meter.s_total_va
    guns_w = sum(max(0, g.power_w) for g in guns)
    tolerance = policy.meter_tolerance_pct * rated_kva * 10  # VA
    low = s < guns_w - tolerance
    low_since = (prev.low_since if prev.low_since is not None else at) if low else None
    if prev.s_total_va == s and prev.same_since is not None:
        same_since, guns_then = prev.same_since, prev.guns_w_then
        if at - same_since < policy.meter_implausible_s / 2:
            # The guns are polled less often than the meter: for the first half of the
            # window their readings may still be catching up with the S total that froze.
            guns_then = guns_w
    else:
        same_since, guns_then = at, guns_w
    why = None
    if low_since is not None and at - low_since >= policy.meter_implausible_s:
        why = (f"S total {s} VA below the guns' own {guns_w} W "
               f"(more than {policy.meter_tolerance_pct:g} % of rated) "
               f"for {at - low_since:.0f} s")
    elif at - same_since >= policy.meter_implausible_s and abs(guns_w - guns_then) > tolerance:
        why = (f"S total stuck at {s} VA for {at - same_since:.0f} s while the guns went "
               f"from {guns_then} W to {guns_w} W")
    return MeterCheck(
        s_total_va=s,
        taken_at=at,
        same_since=same_since,
        guns_w_then=guns_then,
        low_since=low_since,
        implausible=why,
    )
