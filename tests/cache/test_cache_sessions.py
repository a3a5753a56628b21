"""Session rows at the edge."""

from __future__ import annotations

import sqlite3
import uuid

import pytest

from edge.cache import SessionRow, SessionState, Store


def _row(gun: str = "P1-1", **kw) -> SessionRow:
    return SessionRow(str(uuid.uuid4()), gun, kw.pop("state", "starting"), kw.pop("auth", "remote"), **kw)


def test_upsert_get_roundtrip_all_fields(store: Store) -> None:
    row = SessionRow(
        session_id=str(uuid.uuid4()),
        gun="P1-2",
        state="active",
        auth="card:04A1B2",
        order_id="ord-1",
        limit={"mode": "amount", "value": 5000},
        power_cap_w=7000,
        energy_start_wh=123_456,
        energy_last_wh=123_900,
        started_at=1_767_225_600_000,
        cost_fen=88,
        cost_state={"period": "peak", "acc": [1, 2]},
        pile_session_counter=17,
        session_tag="A17",
        updated_at=1_767_225_660_000,
    )
    assert store.sessions.upsert(row) == row
    assert store.sessions.get(row.session_id) == row
    assert store.sessions.get(str(uuid.uuid4())) is None


def test_update_fields_and_states(store: Store) -> None:
    row = store.sessions.upsert(_row())
    assert row.state == SessionState.STARTING
    got = store.sessions.update(row.session_id, state="active", energy_last_wh=5, cost_fen=1)
    assert (got.state, got.energy_last_wh, got.cost_fen) == ("active", 5, 1)
    got = store.sessions.update(row.session_id, state="ended", ended_at=9, stop_reason="ev_full")
    assert got.state == "ended" and got.stop_reason == "ev_full"
    with pytest.raises(ValueError):  # an ended session stays ended
        store.sessions.update(row.session_id, state="active")
    store.sessions.update(row.session_id, reported=True, ended_seq=3)  # still fine
    with pytest.raises(KeyError):
        store.sessions.update(str(uuid.uuid4()), state="active")


@pytest.mark.parametrize(
    "fields",
    [
        {"state": "charging"},
        {"stop_reason": "tired"},
        {"nonsense": 1},
        {"cost_fen": None},
        {"cost_fen": 1.5},
        {"limit": [1]},
        {"reported": 1},
        {"started_at": -5},
        {"gun": ""},
    ],
)
def test_update_validates(store: Store, fields) -> None:
    row = store.sessions.upsert(_row())
    with pytest.raises(ValueError):
        store.sessions.update(row.session_id, **fields)


def test_session_id_must_be_a_uuid(store: Store) -> None:
    with pytest.raises(ValueError):
        store.sessions.upsert(SessionRow("not-a-uuid", "P1-1", "active", "free"))


def test_open_sessions_and_for_gun(store: Store) -> None:
    a = store.sessions.upsert(_row("P1-1", state="active", started_at=1))
    b = store.sessions.upsert(_row("P1-2", state="starting", started_at=2))
    c = store.sessions.upsert(_row("P2-1", state="ended", started_at=0, ended_at=3))
    assert [s.session_id for s in store.sessions.open_sessions()] == [a.session_id, b.session_id]
    assert store.sessions.for_gun("P1-1") == a
    assert store.sessions.for_gun("P2-1") is None  # only an ended one there
    assert store.sessions.for_gun("P9-9") is None
    assert [s.session_id for s in store.sessions.unreported()] == [c.session_id]
    assert [s.session_id for s in store.sessions.recent(2)] == [b.session_id, a.session_id]
    assert [s.session_id for s in store.sessions.recent(gun="P2-1")] == [c.session_id]


def test_one_open_session_per_gun(store: Store) -> None:
    first = store.sessions.upsert(_row("P1-1", state="active"))
    with pytest.raises(sqlite3.IntegrityError):
        store.sessions.upsert(_row("P1-1", state="starting"))
    store.sessions.update(first.session_id, state="ended", ended_at=5)
    store.sessions.upsert(_row("P1-1", state="starting"))  # now fine


def test_session_writes_are_durable(store: Store) -> None:
    store.outbox.append("meter_minute", {}, 1)
    assert store._dirty
    store.sessions.upsert(_row())
    assert not store._dirty


def test_discard_only_a_start_that_never_happened(store: Store) -> None:
    starting = store.sessions.upsert(_row("P1-1", state="starting"))
    active = store.sessions.upsert(_row("P1-2", state="active"))
    assert store.sessions.discard(starting.session_id) is True
    assert store.sessions.get(starting.session_id) is None
    assert store.sessions.discard(starting.session_id) is False
    with pytest.raises(ValueError):
        store.sessions.discard(active.session_id)
    assert store.sessions.get(active.session_id) == active
