"""The outbox's three verbs: append, batch, ack."""

from __future__ import annotations

import json

import pytest

from edge.cache import OutboxRecord, Store
from edge.cache.lock import StoreError


def test_append_assigns_gapless_seqs_from_one(store: Store) -> None:
    seqs = [store.outbox.append("meter_minute", {"p_avg_w": i}, 1_000 + i) for i in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    assert store.outbox.last_seq() == 5
    assert store.outbox.acked_seq() == 0
    assert store.outbox.depth() == 5


def test_record_is_stored_as_json_with_seq_type_ts(store: Store) -> None:
    seq = store.outbox.append("event", {"kind": "gun_state", "gun": "P1-1", "detail": {"to": "charging"}}, 42)
    raw = store.scalar("SELECT body FROM outbox WHERE seq = ?", (seq,))
    assert json.loads(raw) == {
        "seq": 1,
        "type": "event",
        "ts": 42,
        "kind": "gun_state",
        "gun": "P1-1",
        "detail": {"to": "charging"},
    }
    assert raw.startswith('{"seq":1,"type":"event","ts":42,')  # compact, seq first
    rec = store.outbox.get(seq)
    assert rec == OutboxRecord(1, "event", 42, {"kind": "gun_state", "gun": "P1-1", "detail": {"to": "charging"}}, raw)
    assert rec.to_wire() == json.loads(raw)


@pytest.mark.parametrize(
    "args",
    [
        ("", {}, 1),
        ("event", {"seq": 9}, 1),
        ("event", {"ts": 9}, 1),
        ("event", {"type": "x"}, 1),
        ("event", [], 1),
        ("event", {}, -1),
        ("event", {}, 1.5),
        ("event", {}, True),
        ("event", {"x": float("nan")}, 1),
        ("event", {"x": object()}, 1),
    ],
)
def test_append_rejects_bad_input_without_taking_a_seq(store: Store, args: tuple) -> None:
    with pytest.raises((ValueError, TypeError)):
        store.outbox.append(*args)
    assert store.outbox.append("event", {}, 1) == 1


def test_seq_survives_restart_and_acks(db_path, clock) -> None:
    with Store.open(db_path, clock=clock) as s:
        for i in range(10):
            s.outbox.append("meter_minute", {"i": i}, i)
        s.outbox.ack(10)  # everything gone from the table
        assert s.outbox.depth() == 0
        assert s.scalar("SELECT count(*) FROM outbox") == 0
    with Store.open(db_path, clock=clock) as s:
        assert s.outbox.last_seq() == 10
        assert s.outbox.append("meter_minute", {}, 11) == 11


def test_batch_returns_unacked_in_seq_order(store: Store) -> None:
    for i in range(10):
        store.outbox.append("meter_minute", {"i": i}, i)
    assert [r.seq for r in store.outbox.batch(0, 4)] == [1, 2, 3, 4]
    assert [r.seq for r in store.outbox.batch(4, 4)] == [5, 6, 7, 8]
    assert [r.seq for r in store.outbox.batch(8, 4)] == [9, 10]
    assert store.outbox.batch(10, 4) == []
    store.outbox.ack(6)
    assert [r.seq for r in store.outbox.batch(0, 100)] == [7, 8, 9, 10]
    with pytest.raises(ValueError):
        store.outbox.batch(0, 0)


def test_batch_max_bytes(store: Store) -> None:
    for i in range(5):
        store.outbox.append("meter_minute", {"pad": "x" * 80}, i)
    size = store.outbox.get(1).size
    assert size > 80
    got = store.outbox.batch(0, 100, max_bytes=3 * (size + 1))
    assert [r.seq for r in got] == [1, 2, 3]
    # One record larger than max_bytes still goes, alone: it must not block the queue.
    assert [r.seq for r in store.outbox.batch(0, 100, max_bytes=10)] == [1]


def test_ack_deletes_up_to_seq_and_is_idempotent(store: Store) -> None:
    for i in range(6):
        store.outbox.append("meter_minute", {}, i)
    assert store.outbox.ack(3) == 3
    assert store.outbox.acked_seq() == 3
    assert store.outbox.depth() == 3
    assert store.outbox.ack(3) == 0  # repeated
    assert store.outbox.ack(1) == 0  # older
    assert store.outbox.ack(0) == 0
    assert store.outbox.acked_seq() == 3
    assert [r.seq for r in store.outbox.batch(0, 10)] == [4, 5, 6]
    assert store.outbox.ack(6) == 3
    assert store.outbox.depth() == 0


def test_ack_beyond_last_seq_is_refused(store: Store, caplog) -> None:
    store.outbox.append("meter_minute", {}, 1)
    store.outbox.append("meter_minute", {}, 2)
    assert store.outbox.ack(3) == 0
    assert store.outbox.acked_seq() == 0
    assert store.outbox.depth() == 2
    assert store.outbox.refused_acks == 1
    assert "refused" in caplog.text
    with pytest.raises(ValueError):
        store.outbox.ack("2")  # type: ignore[arg-type]


def test_depth_matches_rows(store: Store) -> None:
    for i in range(7):
        store.outbox.append("meter_minute", {}, i)
    store.outbox.ack(2)
    assert store.outbox.depth() == store.scalar("SELECT count(*) FROM outbox") == 5


def test_session_records_are_committed_durably(store: Store) -> None:
    store.outbox.append("meter_minute", {}, 1)
    assert store._dirty  # NORMAL commit, not fsynced yet
    store.outbox.append("session_progress", {"session_id": "s"}, 2)
    assert not store._dirty  # the money record's commit fsynced the WAL (and all before it)
    # Inside a NORMAL transaction a money record still forces a sync after the commit.
    with store.transaction():
        store.outbox.append("meter_minute", {}, 3)
        store.outbox.append("session_progress", {"session_id": "s"}, 4)
    assert not store._dirty
    assert store._synced_seq == 4


def test_batch_makes_records_durable_before_handing_them_out(store: Store) -> None:
    store.outbox.append("meter_minute", {}, 1)
    assert store._dirty
    syncs = store.settings.get("store.syncs", 0)
    store.outbox.batch(0, 10)
    assert not store._dirty
    assert store.settings.get("store.syncs") == syncs + 1
    store.outbox.batch(0, 10)  # nothing new: no extra fsync
    assert store.settings.get("store.syncs") == syncs + 1


def test_batch_inside_a_transaction_is_refused(store: Store) -> None:
    """It would hand out a record that may still roll back, and its seq be reused."""
    with store.transaction():
        store.outbox.append("meter_minute", {}, 1)
        with pytest.raises(StoreError):
            store.outbox.batch(0, 10)


def test_writes_outside_a_transaction_are_refused(store: Store) -> None:
    with pytest.raises(StoreError):
        store.execute("DELETE FROM outbox")
