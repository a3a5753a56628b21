"""Orderly charging (有序充电): one session's power planned into the cheapest slots before its
departure, under the transformer's headroom. Pure: no clock, no I/O; times are epoch ms.

    slots = make_slots(now_ms, departure_ms, price_at, next_boundary, headroom_w, slot_ms)
    p = plan(slots, energy_wh, max_power_w, min_power_w)
    p.power_now_w      # what the session may draw in the slot that holds now

The problem is linear: every Wh costs the price of the slot it is drawn in, and slot i can
give at most cap_i = min(max power, headroom_i) × its length. So taking the cheapest slots
first, each filled to its capacity, until the energy is reached, is cost-optimal (the
fractional knapsack); ties go to the earlier slot, so the energy arrives as early as the
prices allow. The energy wanted is reachable exactly when Σ capacity ≥ energy; then the plan
reaches it. When it is not, every slot runs at its capacity (as fast as allowed) and the plan
says `cannot_meet` with the energy it expects and the shortfall.

A gun with a minimum power cannot run below it: a slot whose capacity power is under the
minimum is not used, and the last slot the energy needs runs at least at the minimum (which
only delivers earlier; the session's energy limit stops it).

A car may take less than the pile allows: with `accept_w` (what it takes, learned from its
gun's readings: acceptance.py) a slot gives what min(its power, accept_w) draws through it,
while a slot used to its full capacity keeps the pile's power as its ceiling (`power_w`), so a
car that takes more later can show it; the plan never counts on more than the car takes.

The plan is a forecast: the caller builds the headroom from what the meter reads now (base
load measured, less a margin, less the other orderly sessions' planned power) and replans at
every slot boundary and when the load moves; the live rule (`decide`) caps it every tick.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

HOUR_MS = 3_600_000
SLOT_MS = 15 * 60_000  # the planning grid: 15 minutes

ON_TRACK = "on_track"  # the energy will be delivered by the departure
CANNOT_MEET = "cannot_meet"  # it will not: as fast as allowed, `expected_wh` < wanted
DONE = "done"  # the energy wanted is delivered
PAST_DEPARTURE = "past_departure"  # the departure has passed: charged as a normal session
STATUSES = (ON_TRACK, CANNOT_MEET, DONE, PAST_DEPARTURE)


@dataclass(frozen=True, slots=True)
class Slot:
    start_ms: int
    end_ms: int  # exclusive; > start_ms
    price_e4: int  # CNY/kWh × 10,000 (energy + service), what one kWh in this slot costs
    headroom_w: int  # the most this session may draw in it without passing the target (≥ 0)

    @property
    def length_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True, slots=True)
class Plan:
    slots: tuple[Slot, ...]
    power_w: tuple[int, ...]  # per slot, ≤ min(max power, headroom), 0 or ≥ min power
    energy_wh: tuple[int, ...]  # per slot, what the plan counts on drawing in it
    wanted_wh: int
    status: str  # ON_TRACK, CANNOT_MEET, DONE or PAST_DEPARTURE
    accept_w: int | None = None  # what the car was counted on to take (None: the pile's power)

    @property
    def expected_wh(self) -> int:
        return sum(self.energy_wh)

    @property
    def shortfall_wh(self) -> int:
        return max(0, self.wanted_wh - self.expected_wh)

    @property
    def power_now_w(self) -> int | None:
        """The power of the first slot (the one holding now); None without slots."""
        return self.power_w[0] if self.power_w else None

    @property
    def finish_ms(self) -> int | None:
        """When the plan's last Wh is drawn (end of its last slot with power), or None."""
        last = [s.end_ms for s, e in zip(self.slots, self.energy_wh, strict=True) if e > 0]
        return max(last) if last else None

    @property
    def cost_e4_wh(self) -> int:
        """Σ Wh × price_e4 (divide by 10,000,000 for fen): what the optimality test compares."""
        return sum(e * s.price_e4 for s, e in zip(self.slots, self.energy_wh, strict=True))

    def to_dict(self) -> dict:
        return {"status": self.status, "wanted_wh": self.wanted_wh, "expected_wh": self.expected_wh,
                "shortfall_wh": self.shortfall_wh, "finish_at": self.finish_ms, "accept_w": self.accept_w,
                "slots": [{"start": s.start_ms, "end": s.end_ms, "price_e4": s.price_e4,
                           "headroom_w": s.headroom_w, "power_w": w, "energy_wh": e}
                          for s, w, e in zip(self.slots, self.power_w, self.energy_wh, strict=True)]}


def slot_power(slot: Slot, max_power_w: int, min_power_w: int = 0) -> int:
    """The most this session may draw in the slot: its own maximum and the headroom; 0 when
    that is below its minimum (it could not run there at all)."""
    p = max(0, min(max_power_w, slot.headroom_w))
    return p if p >= max(1, min_power_w) else 0


def capacity_wh(slot: Slot, power_w: int) -> int:
    """Whole Wh drawn at `power_w` through the slot (floored: never counts on more)."""
    return power_w * slot.length_ms // HOUR_MS


def _power_for(slot: Slot, wh: int) -> int:
    """The least whole W that draws `wh` in the slot (ceiling)."""
    return -(-wh * HOUR_MS // slot.length_ms)


def plan(slots: Sequence[Slot], energy_wh: int, max_power_w: int, min_power_w: int = 0,
         accept_w: int | None = None) -> Plan:
    """The cheapest plan drawing `energy_wh` (still to deliver) in `slots` (consecutive, the
    first one holding now, the last one ending at the departure), for a car that takes at most
    `accept_w` (None: whatever the pile allows)."""
    slots = tuple(slots)
    n = len(slots)
    if energy_wh <= 0:
        return Plan(slots, (0,) * n, (0,) * n, max(0, energy_wh), DONE, accept_w)
    if not slots:
        return Plan(slots, (), (), energy_wh, PAST_DEPARTURE, accept_w)
    tops = [slot_power(s, max_power_w, min_power_w) for s in slots]
    # what the car draws under each slot's top: the energy is counted at this, never more
    draws = tops if accept_w is None else [min(p, max(0, accept_w)) for p in tops]
    caps = [capacity_wh(s, d) for s, d in zip(slots, draws, strict=True)]
    if sum(caps) < energy_wh:
        return Plan(slots, tuple(p if c > 0 else 0 for p, c in zip(tops, caps, strict=True)),
                    tuple(caps), energy_wh, CANNOT_MEET, accept_w)
    power = [0] * n
    drawn = [0] * n
    left = energy_wh
    for i in sorted(range(n), key=lambda i: (slots[i].price_e4, slots[i].start_ms)):
        if left <= 0:
            break
        if caps[i] <= 0:
            continue
        take = min(caps[i], left)
        # The least power that draws `take`, never below the gun's minimum; ≤ draws[i] ≤
        # tops[i], since take < caps[i] = floor(draws[i] × length) and tops[i] ≥ the minimum.
        # A slot used to its capacity keeps its top: the car takes what it can under it.
        power[i] = tops[i] if take == caps[i] else max(_power_for(slots[i], take), min_power_w)
        drawn[i] = take
        left -= take
    return Plan(slots, tuple(power), tuple(drawn), energy_wh, ON_TRACK, accept_w)


def make_slots(now_ms: int, departure_ms: int, price_at: Callable[[int], int],
               next_boundary: Callable[[int], int | None], headroom_w: Callable[[int], int],
               slot_ms: int = SLOT_MS) -> list[Slot]:
    """Slots from now to the departure: cut at every multiple of `slot_ms` (since the epoch)
    and at every tariff boundary, so each slot has one price. `price_at(ts)` is the price in
    force at ts (price_e4), `next_boundary(ts)` the tariff's next change after ts (or None),
    `headroom_w(start)` the headroom forecast for a slot starting then."""
    if slot_ms <= 0:
        raise ValueError("slot_ms must be above 0")
    out: list[Slot] = []
    t = now_ms
    while t < departure_ms:
        end = min(departure_ms, (t // slot_ms + 1) * slot_ms)
        nb = next_boundary(t)
        if nb is not None and t < nb < end:
            end = nb
        out.append(Slot(t, end, price_at(t), max(0, headroom_w(t))))
        t = end
    return out


def remaining_headroom(base_headroom_w: int, others: Sequence[Plan], slot: Slot) -> int:
    """`base_headroom_w` less what other orderly sessions' plans draw in the time of `slot`
    (the highest of their powers over any overlap: never too little)."""
    taken = 0
    for other in others:
        taken += max((w for s, w in zip(other.slots, other.power_w, strict=True)
                      if s.start_ms < slot.end_ms and slot.start_ms < s.end_ms), default=0)
    return max(0, base_headroom_w - taken)
