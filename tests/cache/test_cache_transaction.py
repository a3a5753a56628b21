"""One commit for many writes; rollback leaves nothing behind."""

from __future__ import annotations

import uuid

import pytest

from edge.cache import SessionRow, Store


def test_group_commit_is_one_transaction(store: Store) -> None:
    with store.transaction():
        seqs = [store.outbox.append("meter_minute", {"i": i}, i) for i in range(100)]
        assert store.in_transaction
    assert seqs == list(range(1, 101))
    assert not store.in_transaction


def test_exception_rolls_back_everything_and_frees_no_seq(store: Store) -> None:
    store.outbox.append("meter_minute", {}, 1)
    with pytest.raises(RuntimeError), store.transaction(durable=True):
        store.outbox.append("session_started", {"session_id": "a"}, 2)
        store.settings.set("cfg_rev", 7)
        raise RuntimeError("boom")
    assert store.outbox.last_seq() == 1
    assert store.settings.get("cfg_rev") is None
    assert store.outbox.append("meter_minute", {}, 3) == 2


def test_failed_inner_write_is_undone_but_outer_continues(store: Store) -> None:
    """A nested call is a savepoint: a caught failure leaves no seq taken without its record."""
    with store.transaction():
        store.outbox.append("meter_minute", {}, 1)
        with pytest.raises(ValueError):
            store.outbox.append("meter_minute", {"x": float("inf")}, 2)  # fails after taking a seq
        store.outbox.append("meter_minute", {}, 3)
    assert [r.seq for r in store.outbox.batch(0, 10)] == [1, 2]
    assert store.outbox.last_seq() == 2


def test_ending_a_session_is_one_durable_commit(store: Store) -> None:
    sid = str(uuid.uuid4())
    store.sessions.upsert(SessionRow(sid, "P1-1", "active", "free", started_at=1_000, energy_start_wh=10))
    with pytest.raises(RuntimeError), store.transaction(durable=True):
        seq = store.outbox.append("session_ended", {"session_id": sid}, 5_000)
        store.sessions.update(sid, state="ended", ended_at=5_000, reported=True, ended_seq=seq)
        raise RuntimeError("power cut simulated by an exception")
    assert store.sessions.get(sid).state == "active"
    assert store.outbox.last_seq() == 0
    with store.transaction(durable=True):
        seq = store.outbox.append("session_ended", {"session_id": sid}, 5_000)
        store.sessions.update(sid, state="ended", ended_at=5_000, reported=True, ended_seq=seq)
    row = store.sessions.get(sid)
    assert (row.state, row.reported, row.ended_seq) == ("ended", True, 1)
    assert not store._dirty


def test_durable_transaction_uses_synchronous_full(store: Store) -> None:
    seen: list[int] = []
    with store.transaction(durable=True):
        seen.append(store.scalar("PRAGMA synchronous"))
    with store.transaction():
        seen.append(store.scalar("PRAGMA synchronous"))
    assert seen == [2, 1]  # FULL, NORMAL


def test_journal_mode_is_wal(store: Store) -> None:
    assert store.scalar("PRAGMA journal_mode") == "wal"
    assert store.scalar("PRAGMA auto_vacuum") == 2  # incremental: pruning can shrink the file
