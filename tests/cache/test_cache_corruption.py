"""A store that fails its integrity check: preserved copy, fresh store, alarm, seq continues."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edge.cache import Store, recovery


def _fill(db_path: Path, clock, n: int = 300, acked: int = 20) -> dict[int, dict]:
    bodies = {}
    with Store.open(db_path, clock=clock, seq_block=50) as s:
        with s.transaction():
            for i in range(1, n + 1):
                body = {"marker": f"rec-{i:05d}", "pad": "x" * 150}
                assert s.outbox.append("meter_minute", body, i) == i
                bodies[i] = body
        s.outbox.ack(acked)
        s.settings.set("cfg_rev", 42)
        s.cards.set_auth_list([])
    return bodies


def _page_of(path: Path, needle: bytes) -> int:
    data = path.read_bytes()
    page_size = int.from_bytes(data[16:18], "big")
    return data.index(needle) // page_size


def _smash_page(path: Path, page: int) -> None:
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    data[page * page_size : (page + 1) * page_size] = bytes([0xA5]) * page_size
    path.write_bytes(bytes(data))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("check", ["integrity", "quick"])
def test_corrupt_page_is_preserved_salvaged_and_seq_continues(db_path: Path, clock, check) -> None:
    bodies = _fill(db_path, clock)
    assert not Path(f"{db_path}-wal").exists()  # closed cleanly: all in the main file
    _smash_page(db_path, _page_of(db_path, b"rec-00150"))
    smashed = _sha(db_path)

    with Store.open(db_path, clock=clock, seq_block=50, check=check) as s:
        rep = s.recovery
        assert rep is not None and rep.reason == "corrupt"
        # the broken file is kept, untouched, under a name that says what it is
        assert re.fullmatch(r"station\.db\.corrupt-\d{8}T\d{6}Z", rep.preserved.name)
        assert _sha(rep.preserved) == smashed
        # the alarm the gateway turns into an alarm event, and the same in the alarms table
        assert s.startup_alarm.key == "store_corrupt"
        assert rep.preserved.name in s.startup_alarm.message
        assert [a.key for a in s.alarms.active()] == ["store_corrupt"]
        # the fresh store passes its check
        assert s.integrity_ok()
        # counters came from the copy; every unacked seq is there: salvaged, or marked lost
        assert (s.outbox.acked_seq(), s.outbox.last_seq()) == (20, 300)
        recs = s.outbox.batch(0, 1000)
        assert [r.seq for r in recs] == list(range(21, 301))
        lost = [r.seq for r in recs if r.type == "lost"]
        kept = [r for r in recs if r.type == "meter_minute"]
        assert 150 in lost and 0 < len(lost) < 40
        assert all(r.body == bodies[r.seq] for r in kept)
        assert rep.lost_seqs == len(lost)
        assert rep.salvaged["outbox"] == len(kept)
        assert 300 in {r.seq for r in kept}  # read back from the end past the broken page
        assert s.settings.get("cfg_rev") == 42  # other tables salvaged too
        assert s.outbox.append("meter_minute", {}, 1) == 301
    # the next start is a normal one
    with Store.open(db_path, clock=clock, seq_block=50) as s:
        assert s.recovery is None
        assert s.outbox.last_seq() == 301
        assert [a.key for a in s.alarms.active()] == ["store_corrupt"]  # until someone clears it


def test_unreadable_file_continues_after_the_seq_mark(db_path: Path, clock) -> None:
    _fill(db_path, clock, n=120, acked=30)
    mark = json.loads(db_path.with_name("station.db.seq").read_text())
    assert mark["acked"] == 30 and mark["hwm"] >= 120
    data = bytearray(db_path.read_bytes())
    data[:100] = b"\x00" * 100  # header gone: "file is not a database"
    db_path.write_bytes(bytes(data))

    with Store.open(db_path, clock=clock, seq_block=50) as s:
        rep = s.recovery
        assert rep.reason == "corrupt" and "not a database" in rep.detail
        assert rep.preserved.exists()
        assert s.outbox.acked_seq() == 30
        assert s.outbox.last_seq() == mark["hwm"]  # nothing above it was ever assigned
        recs = s.outbox.batch(0, 1000)
        assert [r.seq for r in recs] == list(range(31, mark["hwm"] + 1))
        assert {r.type for r in recs} == {"lost"}
        assert recs[0].to_wire() == {"seq": 31, "type": "lost", "ts": s.now_ms(), "reason": "store_corrupt"}
        assert s.outbox.append("meter_minute", {}, 1) == mark["hwm"] + 1


def test_wal_left_by_a_killed_gateway_is_preserved_and_read(db_path: Path, clock) -> None:
    """kill -9 leaves the last commits in the -wal only; the preserved copy keeps its WAL
    beside it (unchanged), and salvage reads those commits back."""
    code = textwrap.dedent(
        f"""
        import time
        from edge.cache import Store
        s = Store.open({str(db_path)!r}, seq_block=50)
        with s.transaction():
            for i in range(1, 301):
                s.outbox.append("meter_minute", {{"marker": f"rec-{{i:05d}}", "pad": "x" * 150}}, i)
        s.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # 1..300 now in the main file
        for i in range(5):
            s.outbox.append("session_progress", {{"session_id": "x", "i": i}}, i)  # WAL only
        print("done", flush=True)
        time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "done"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    wal = Path(f"{db_path}-wal")
    assert wal.stat().st_size > 0
    wal_sha = _sha(wal)
    _smash_page(db_path, _page_of(db_path, b"rec-00150"))

    with Store.open(db_path, clock=clock, seq_block=50) as s:
        preserved = s.recovery.preserved
        assert _sha(Path(f"{preserved}-wal")) == wal_sha
        assert s.outbox.last_seq() == 305
        tail = s.outbox.batch(300, 10)
        assert [(r.seq, r.type, r.body["i"]) for r in tail] == [
            (301 + i, "session_progress", i) for i in range(5)
        ]
        assert s.outbox.append("meter_minute", {}, 1) == 306


def test_salvage_interrupted_by_a_crash_is_resumed(db_path: Path, clock, monkeypatch) -> None:
    bodies = _fill(db_path, clock)
    _smash_page(db_path, _page_of(db_path, b"rec-00150"))

    def dies(preserved, store):
        store.execute("DELETE FROM kv")  # half done, then the power goes
        raise KeyboardInterrupt

    monkeypatch.setattr(recovery, "salvage", dies)
    with pytest.raises(KeyboardInterrupt):
        Store.open(db_path, clock=clock, seq_block=50)
    monkeypatch.undo()

    with Store.open(db_path, clock=clock, seq_block=50) as s:
        assert s.recovery.reason == "corrupt"
        assert s.recovery.detail == "salvage interrupted, resumed"
        assert s.outbox.last_seq() == 300
        kept = [r for r in s.outbox.batch(0, 1000) if r.type == "meter_minute"]
        assert len(kept) > 250 and all(r.body == bodies[r.seq] for r in kept)
        assert s.settings.get("store.salvage_from") is None
    with Store.open(db_path, clock=clock, seq_block=50) as s:
        assert s.recovery is None
