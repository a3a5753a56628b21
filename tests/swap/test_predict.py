"""The swap station's promises as pure decisions over hand-made tables: packs ready by a
time, the slots, bays left, and whether one more booking of a type can be served; and, as a
property, that bookings admitted by these checks never exceed the bays of a slot nor the
packs available by their slots (checked by an independent greedy assignment)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.swap.predict import (
    Booked,
    Pack,
    available_at,
    bays_free,
    feasible,
    free_packs,
    hand_out,
    predicted,
    slot_of,
    slots,
)

M = 60_000
T = 1_767_225_600_000  # a slot start (10 and 15 minutes divide the epoch's hours)
A = "A"
PACKS = [Pack(A, "ready"), Pack(A, "charging", T + 25 * M), Pack(A, "charging", T + 50 * M),
         Pack(A, "out"), Pack(A, "charging", None), Pack("B", "ready")]


def test_packs_ready_by_a_time_count_ready_and_charging_done_by_then() -> None:
    assert available_at(PACKS, A, T) == 1
    assert available_at(PACKS, A, T + 25 * M) == 2
    assert available_at(PACKS, A, T + 49 * M) == 2
    assert available_at(PACKS, A, T + 50 * M) == 3  # out and unknown-time packs never count
    assert available_at(PACKS, "B", T) == 1 and available_at(PACKS, "C", T) == 0


def test_prediction_lists_now_and_each_later_ready_time() -> None:
    assert predicted(PACKS, A, T) == [(T, 1), (T + 25 * M, 2), (T + 50 * M, 3)]
    assert predicted(PACKS, A, T + 30 * M) == [(T + 30 * M, 2), (T + 50 * M, 3)]


def test_one_ready_pack_booked_later_leaves_none_for_now() -> None:
    # One ready pack, booked for T+40: a booking at T would take it and leave T+40 unserved
    # until the pack ready at T+25 — which then serves T+40, so T is still bookable once.
    booked = [Booked(A, T + 40 * M)]
    assert free_packs(PACKS, booked, A, T) == 1
    # With the T+25 pack gone the T+40 booking needs the only ready one: nothing for T.
    only_ready = [Pack(A, "ready")]
    assert free_packs(only_ready, booked, A, T) == 0
    assert free_packs(only_ready, [], A, T) == 1


def test_bookings_at_the_same_time_use_up_the_packs_by_then() -> None:
    booked = [Booked(A, T + 30 * M), Booked(A, T + 30 * M)]
    assert free_packs(PACKS, booked, A, T + 30 * M) == 0
    assert free_packs(PACKS, booked, A, T + 50 * M) == 1
    assert free_packs(PACKS, booked, "B", T) == 1  # another type is another stock


def test_feasible_is_halls_condition() -> None:
    assert feasible(PACKS, [Booked(A, T), Booked(A, T + 25 * M)], A)
    assert not feasible(PACKS, [Booked(A, T), Booked(A, T)], A)
    assert not feasible(PACKS, [Booked(A, T + 20 * M), Booked(A, T + 20 * M)], A)


def test_slots_from_the_current_one_within_the_longest_lead() -> None:
    now = T + 3 * M
    assert slot_of(now, 10) == T
    assert slots(now, 10, 30) == [T, T + 10 * M, T + 20 * M]  # T+30's end is 37 min away
    assert slots(now, 10, 37) == [T, T + 10 * M, T + 20 * M, T + 30 * M]
    assert slots(now, 10, 5) == [T]  # the current slot is always there


def test_bays_left_in_a_slot() -> None:
    booked = [Booked(A, T), Booked("B", T), Booked(A, T + 10 * M)]
    assert bays_free(2, booked, T) == 0
    assert bays_free(2, booked, T + 10 * M) == 1
    assert bays_free(0, [], T) == 0


PACK = st.builds(Pack, st.sampled_from([A, "B"]), st.sampled_from(["ready", "charging", "out"]),
                 st.one_of(st.none(), st.integers(0, 12).map(lambda k: T + k * 10 * M)))
ASK = st.tuples(st.sampled_from([A, "B"]), st.integers(0, 12).map(lambda k: T + k * 10 * M))


def _greedy_serves(packs: list[Pack], booked: list[Booked], type_code: str) -> bool:
    """An independent check: each booking, earliest slot first, takes the earliest-ready pack
    of its type still unused that is ready by its slot."""
    times = sorted(0 if p.state == "ready" else p.ready_at for p in packs  # type: ignore[misc]
                   if p.type_code == type_code and (p.state == "ready" or (p.state == "charging" and p.ready_at)))
    for slot in sorted(b.slot_start for b in booked if b.type_code == type_code):
        if not times or times[0] > slot:
            return False
        times.pop(0)
    return True


@settings(max_examples=300, deadline=None)
@given(packs=st.lists(PACK, max_size=10), asks=st.lists(ASK, max_size=25), bays=st.integers(0, 3))
def test_admitted_bookings_never_exceed_bays_or_packs(packs: list[Pack], asks: list[tuple[str, int]],
                                                       bays: int) -> None:
    booked: list[Booked] = []
    for type_code, slot in asks:
        if bays_free(bays, booked, slot) >= 1 and free_packs(packs, booked, type_code, slot) >= 1:
            booked.append(Booked(type_code, slot))
        else:  # refused: then adding it would indeed break a bay or a pack promise
            extra = [*booked, Booked(type_code, slot)]
            assert (sum(1 for b in extra if b.slot_start == slot) > bays
                    or not _greedy_serves(packs, extra, type_code))
    for slot in {b.slot_start for b in booked}:
        assert sum(1 for b in booked if b.slot_start == slot) <= bays
    for type_code in (A, "B"):
        assert feasible(packs, booked, type_code) and _greedy_serves(packs, booked, type_code)


def test_hand_out_keeps_the_earlier_slot_its_pack() -> None:
    packs = [Pack("A", "ready"), Pack("A", "charging", 300)]
    earlier = [Booked("A", 100)]
    assert hand_out(packs, earlier, "A", now=50, back_at=5000) is None
    assert hand_out(packs, earlier, "A", now=300, back_at=5000) == 1
    assert hand_out(packs, [], "A", now=50, back_at=5000) == 0
    assert hand_out(packs, [], "B", now=50, back_at=5000) is None


@settings(max_examples=300, deadline=None)
@given(packs=st.lists(PACK, max_size=8), asks=st.lists(ASK, min_size=1, max_size=12), pick=st.integers(0, 11),
       late=st.integers(0, 30))
def test_hand_out_serves_a_booking_in_its_slot_and_keeps_the_others(packs: list[Pack], asks: list[tuple[str, int]],
                                                                     pick: int, late: int) -> None:
    """Among admitted bookings, the one done at or after its slot start always gets a pack, and
    the pack chosen (the returned one charging in its place) leaves every other booking served,
    as the independent greedy assignment finds; a booking done ahead of its slot gets one only
    so (else None)."""
    booked: list[Booked] = []
    for type_code, slot in asks:
        if free_packs(packs, booked, type_code, slot) >= 1:
            booked.append(Booked(type_code, slot))
    if not booked:
        return
    done = booked[pick % len(booked)]
    others = [b for b in booked if b is not done]
    for now in (done.slot_start + late * M, done.slot_start - (late + 1) * M):
        i = hand_out(packs, others, done.type_code, now, back_at=now + 45 * M)
        if now >= done.slot_start:
            assert i is not None
        if i is not None:
            p = packs[i]
            assert p.type_code == done.type_code and (
                p.state == "ready" or (p.state == "charging" and p.ready_at is not None and p.ready_at <= now))
            rest = [*packs[:i], *packs[i + 1:], Pack(done.type_code, "charging", now + 45 * M)]
            assert _greedy_serves(rest, others, done.type_code)
