"""Opening the store: the lock, the seq mark, a missing or rewound database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from edge.cache import Store, StoreLocked
from edge.cache.lock import StoreError


def test_second_open_is_refused_with_a_clear_error(db_path, clock) -> None:
    first = Store.open(db_path, clock=clock)
    with pytest.raises(StoreLocked) as err:
        Store.open(db_path, clock=clock)
    message = str(err.value)
    assert str(db_path) in message and f"pid {os.getpid()}" in message
    assert "only one gateway" in message
    first.outbox.append("meter_minute", {}, 1)  # the first is unaffected
    first.close()
    with Store.open(db_path, clock=clock) as again:  # released on close
        assert again.outbox.last_seq() == 1


def test_lock_is_held_against_another_process(db_path, clock) -> None:
    with Store.open(db_path, clock=clock):
        code = textwrap.dedent(
            f"""
            from edge.cache import Store, StoreLocked
            try:
                Store.open({str(db_path)!r})
            except StoreLocked as exc:
                print("locked:", exc)
            """
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
        assert out.stdout.startswith("locked:"), out.stderr


def test_closed_store_refuses_use(db_path, clock) -> None:
    s = Store.open(db_path, clock=clock)
    s.close()
    s.close()  # idempotent
    assert s.closed
    with pytest.raises(StoreError):
        s.outbox.append("meter_minute", {}, 1)


def test_seq_mark_beside_the_database(db_path, clock) -> None:
    with Store.open(db_path, clock=clock, seq_block=10) as s:
        mark = json.loads(db_path.with_name("station.db.seq").read_text())
        assert mark == {"hwm": 0, "synced": 0, "acked": 0, "block": 10}
        s.outbox.append("meter_minute", {}, 1)
        assert json.loads(db_path.with_name("station.db.seq").read_text())["hwm"] == 10
        for _ in range(10):
            s.outbox.append("meter_minute", {}, 1)  # seq 11 reserves the next block
        assert json.loads(db_path.with_name("station.db.seq").read_text())["hwm"] == 20
        s.outbox.ack(4)
    mark = json.loads(db_path.with_name("station.db.seq").read_text())
    assert mark == {"hwm": 20, "synced": 11, "acked": 4, "block": 10}
    assert s.recovery is None and s.startup_alarm is None


def test_lost_seq_mark_is_rewritten(db_path, clock) -> None:
    with Store.open(db_path, clock=clock, seq_block=10) as s:
        for _ in range(25):
            s.outbox.append("meter_minute", {}, 1)
    db_path.with_name("station.db.seq").unlink()
    with Store.open(db_path, clock=clock, seq_block=10) as s:
        assert s.recovery is None
        assert json.loads(db_path.with_name("station.db.seq").read_text())["hwm"] == 25
        assert s.outbox.append("meter_minute", {}, 1) == 26


def test_missing_database_continues_after_the_mark(db_path, clock) -> None:
    with Store.open(db_path, clock=clock, seq_block=10) as s:
        for _ in range(13):
            s.outbox.append("meter_minute", {}, 1)
        s.outbox.ack(5)
    db_path.unlink()  # someone deleted it (the -wal went on close)
    with Store.open(db_path, clock=clock, seq_block=10) as s:
        assert s.recovery is not None and s.recovery.reason == "missing"
        assert s.startup_alarm.key == "store_missing"
        assert [a.key for a in s.alarms.active()] == ["store_missing"]
        # seqs 6..20 (20: the reserved mark) may have reached the cloud: covered, never reused
        assert s.outbox.acked_seq() == 5
        assert s.outbox.last_seq() == 20
        recs = s.outbox.batch(0, 100)
        assert [r.seq for r in recs] == list(range(6, 21))
        assert {r.type for r in recs} == {"lost"}
        assert recs[0].body == {"reason": "store_missing"}
        assert s.outbox.append("meter_minute", {}, 1) == 21


def test_database_restored_from_backup_does_not_reuse_seqs(db_path, clock, tmp_path) -> None:
    with Store.open(db_path, clock=clock, seq_block=10) as s:
        for _ in range(3):
            s.outbox.append("session_progress", {"session_id": "x"}, 1)
    backup = tmp_path / "backup.db"
    shutil.copyfile(db_path, backup)
    with Store.open(db_path, clock=clock, seq_block=10) as s:
        for _ in range(30):
            s.outbox.append("session_progress", {"session_id": "x"}, 1)  # durable up to 33
    shutil.copyfile(backup, db_path)  # counter back at 3
    with Store.open(db_path, clock=clock, seq_block=10) as s:
        assert s.recovery.reason == "rewound"
        assert s.startup_alarm.key == "store_rewound"
        assert s.outbox.last_seq() >= 33
        assert [r.type for r in s.outbox.batch(3, 100)] == ["lost"] * (s.outbox.last_seq() - 3)
        assert s.outbox.append("meter_minute", {}, 1) == s.outbox.last_seq()


def test_normal_restart_has_no_recovery(db_path, clock) -> None:
    for _ in range(3):
        with Store.open(db_path, clock=clock, seq_block=2) as s:
            for _ in range(5):
                s.outbox.append("meter_minute", {}, 1)
            assert s.recovery is None and s.alarms.active() == []
    with Store.open(db_path, clock=clock) as s:
        assert s.outbox.last_seq() == 15
        assert [r.type for r in s.outbox.batch(0, 100)] == ["meter_minute"] * 15


def test_no_seq_is_assigned_beyond_a_mark_that_could_not_be_written(db_path, clock, monkeypatch) -> None:
    from edge.cache import store as store_mod

    with Store.open(db_path, clock=clock, seq_block=5) as s:
        for _ in range(5):
            s.outbox.append("meter_minute", {}, 1)

        def disk_full(path, mark):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(store_mod, "write_mark", disk_full)
        with pytest.raises(OSError):
            s.outbox.append("meter_minute", {}, 1)  # seq 6 needs a new block
        with pytest.raises(OSError):
            s.outbox.append("meter_minute", {}, 1)  # and still does
        assert s.outbox.last_seq() == 5
        monkeypatch.undo()
        assert s.outbox.append("meter_minute", {}, 1) == 6
        assert json.loads(db_path.with_name("station.db.seq").read_text())["hwm"] == 10
