"""What a swap station can promise (pure, no I/O): packs ready now and by a time, the
slots, and whether one more booking fits.

A pack available at time `a` (ready now, or charging with its expected ready time `a`) can
serve any booking whose slot starts at or after `a`. The bookings of a type can all be
served iff, for every time `s`, the bookings with slot start <= s are no more than the packs
available by s (Hall's condition; the bookings' demand sets are nested, so checking at each
booking's slot start suffices)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MINUTE_MS = 60_000


@dataclass(frozen=True)
class Pack:
    type_code: str
    state: str  # charging | ready | out
    ready_at: int | None = None


@dataclass(frozen=True)
class Booked:
    type_code: str
    slot_start: int


def available_at(packs: Iterable[Pack], type_code: str, at: int) -> int:
    """Packs of the type ready by `at`: ready ones, and charging ones expected ready by then
    (a charging pack without an expected time is not counted)."""
    return sum(1 for p in packs if p.type_code == type_code and (
        p.state == "ready" or (p.state == "charging" and p.ready_at is not None and p.ready_at <= at)))


def free_packs(packs: list[Pack], booked: list[Booked], type_code: str, at: int) -> int:
    """How many more bookings of the type with slot start `at` can be served: the least slack
    of Hall's condition at `at` and at each booking's slot start after it (never below 0)."""
    mine = sorted(b.slot_start for b in booked if b.type_code == type_code)
    points = [at, *[t for t in mine if t > at]]
    slack = min(available_at(packs, type_code, t) - sum(1 for b in mine if b <= t) for t in points)
    return max(0, slack)


def feasible(packs: list[Pack], booked: list[Booked], type_code: str) -> bool:
    """Every booking of the type can be given a pack available by its slot start."""
    mine = sorted(b.slot_start for b in booked if b.type_code == type_code)
    return all(available_at(packs, type_code, t) >= i + 1 for i, t in enumerate(mine))


def hand_out(packs: list[Pack], others: list[Booked], type_code: str, now: int, back_at: int) -> int | None:
    """Which pack (its index in `packs`) to hand out at `now` for a booking of the type, the
    returned pack taking its place in the stock (available at `back_at`): one available now
    whose loss leaves every other live booking of the type served (`feasible`). Of those, the
    one available latest, so the packs ready earliest stay for the earliest slots: handing any
    ready pack to a booking done ahead of an earlier one could take the earlier one's pack.
    None if no pack available now keeps the other bookings served."""
    now_ok = [i for i, p in enumerate(packs) if p.type_code == type_code and (
        p.state == "ready" or (p.state == "charging" and p.ready_at is not None and p.ready_at <= now))]
    # A charging pack expected ready by now became available at its ready_at; a ready one earlier.
    now_ok.sort(key=lambda i: -(packs[i].ready_at or 0) if packs[i].state == "charging" else 1)
    for i in now_ok:
        rest = [*packs[:i], *packs[i + 1:], Pack(type_code, "charging", back_at)]
        if feasible(rest, others, type_code):
            return i
    return None


def slot_of(t: int, slot_minutes: int) -> int:
    """The start of the slot holding time `t` (slots are aligned to the epoch)."""
    size = slot_minutes * MINUTE_MS
    return t - t % size


def slots(now: int, slot_minutes: int, horizon_minutes: int) -> list[int]:
    """The slot starts one can book at `now`: the current slot and those that end within
    `horizon_minutes` (the station's longest reservation) from now."""
    size = slot_minutes * MINUTE_MS
    out, t = [], slot_of(now, slot_minutes)
    while t + size - now <= horizon_minutes * MINUTE_MS or t == slot_of(now, slot_minutes):
        out.append(t)
        t += size
    return out


def bays_free(capacity: int, booked: list[Booked], slot_start: int) -> int:
    """Bays left in the slot: bays in service less the slot's bookings (never below 0)."""
    return max(0, capacity - sum(1 for b in booked if b.slot_start == slot_start))


def predicted(packs: Iterable[Pack], type_code: str, now: int) -> list[tuple[int, int]]:
    """(time, packs ready by then) at now and at each expected ready time after it, ascending."""
    packs = list(packs)
    times = sorted({p.ready_at for p in packs if p.type_code == type_code and p.state == "charging"
                    and p.ready_at is not None and p.ready_at > now})
    return [(t, available_at(packs, type_code, t)) for t in [now, *times]]
