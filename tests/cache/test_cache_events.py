"""Local events (bounded) and alarms."""

from __future__ import annotations

import pytest

from edge.cache import Store


def test_events_add_and_recent(store: Store) -> None:
    a = store.events.add("gun_state", "P1-1", {"to": "charging"}, 1_000)
    b = store.events.add("fault_raised", "P1-2", {"code": 7}, 2_000)
    c = store.events.add("meter_lost", None, None, 3_000)
    assert a < b < c
    recent = store.events.recent()
    assert [e.id for e in recent] == [c, b, a]
    assert recent[0].detail == {} and recent[0].gun is None
    assert [e.kind for e in store.events.recent(gun="P1-2")] == ["fault_raised"]
    assert [e.ts for e in store.events.recent(kind="gun_state")] == [1_000]
    assert len(store.events.recent(limit=2)) == 2


def test_events_are_bounded(db_path, clock) -> None:
    with Store.open(db_path, clock=clock, max_events=5) as s:
        for i in range(12):
            s.events.add("gun_state", "P1-1", {"i": i}, i)
        assert s.events.count() == 5
        assert [e.detail["i"] for e in s.events.recent()] == [11, 10, 9, 8, 7]


def test_events_validate(store: Store) -> None:
    with pytest.raises(ValueError):
        store.events.add("", None, {}, 1)
    with pytest.raises(ValueError):
        store.events.add("gun_state", None, {}, -1)


def test_alarms_raise_clear_active(store: Store) -> None:
    assert store.alarms.active() == []
    assert store.alarms.raise_("meter_lost", "meter silent for 10 s", 1_000) is True
    assert store.alarms.raise_("meter_lost", "meter silent for 20 s", 2_000) is False  # re-worded
    assert store.alarms.raise_("pile_lost:P2", "pile P2 silent", 1_500) is True
    active = store.alarms.active()
    assert [(a.key, a.raised_at) for a in active] == [("meter_lost", 1_000), ("pile_lost:P2", 1_500)]
    assert active[0].message == "meter silent for 20 s"
    assert store.alarms.clear("meter_lost", 3_000) is True
    assert store.alarms.clear("meter_lost", 3_500) is False  # already clear
    assert store.alarms.clear("never", 3_500) is False
    cleared = store.alarms.get("meter_lost")
    assert (cleared.active, cleared.cleared_at) == (False, 3_000)
    assert [a.key for a in store.alarms.active()] == ["pile_lost:P2"]
    assert store.alarms.raise_("meter_lost", "again", 4_000) is True
    again = store.alarms.get("meter_lost")
    assert (again.active, again.raised_at, again.cleared_at) == (True, 4_000, None)
