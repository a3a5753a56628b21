"""Renumbering after the cloud reports seq conflicts (spec Revision 1.1), and a new store
starting above the cloud's high seq: what moves, what is deleted, and kill -9 in between."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from edge.cache import Store
from tests.cache import renumber_child as child

CHILD = Path(__file__).with_name("renumber_child.py")
T0 = 1_767_225_600_000


def _fill(store: Store, n: int) -> None:
    for i in range(1, n + 1):
        store.outbox.append("event", {"kind": "gun_state", "i": i}, T0 + i)


def _by_i(store: Store) -> dict[int, int]:
    """payload i -> seq, for every record in the outbox."""
    out: dict[int, int] = {}
    for rec in store.outbox.batch(after_seq=0, limit=10**6):
        if "i" in rec.body:
            out[rec.body["i"]] = rec.seq
    return out


def _gapless(store: Store) -> None:
    seqs = [r.seq for r in store.outbox.batch(after_seq=0, limit=10**6)]
    acked, last = store.outbox.acked_seq(), store.outbox.last_seq()
    assert seqs == list(range(acked + 1, last + 1))


def test_start_above_only_on_an_empty_store(store: Store) -> None:
    assert store.outbox.start_above(500)
    assert store.outbox.append("event", {"kind": "x"}, T0) == 501
    assert not store.outbox.start_above(900)  # numbered already: keeps its own
    assert store.outbox.append("event", {"kind": "x"}, T0) == 502
    with pytest.raises(ValueError):
        store.outbox.start_above(-1)


def test_start_above_survives_reopening(db_path: Path) -> None:
    s = Store.open(db_path)
    s.outbox.start_above(10_000)
    s.close()
    s = Store.open(db_path)
    assert s.outbox.append("event", {"kind": "x"}, T0) == 10_001
    s.close()


def test_renumber_deletes_what_is_held_and_moves_the_rest_after_high(store: Store) -> None:
    _fill(store, 10)  # seqs 1..10
    store.outbox.ack(2)
    events: list[dict] = []
    done = store.outbox.renumber(
        6, [5, 6], 8, event=lambda d: events.append(d) or store.outbox.append("event", {"kind": "seq_conflict", "detail": d}, T0)
    )
    assert done is not None
    # 3, 4 held (<= 6, not conflicts): gone. 5, 6 conflict; 7, 8 may be held otherwise: moved
    # after max(high 8, last 10) in order. 9, 10 above high: keep their seq.
    assert _by_i(store) == {9: 9, 10: 10, 5: 11, 6: 12, 7: 13, 8: 14}
    assert done.moves == [(5, 11), (6, 12), (7, 13), (8, 14)] and done.held == 2
    assert store.outbox.acked_seq() == 8 and store.outbox.last_seq() == 15  # 15: the event
    assert events and events[0]["conflicts"] == [5, 6] and events[0]["high"] == 8
    _gapless(store)
    # The same answer again (a repeated ack) changes nothing.
    assert store.outbox.renumber(6, [5, 6], 8) is None
    assert store.outbox.last_seq() == 15


def test_renumber_when_the_cloud_is_far_ahead(store: Store) -> None:
    _fill(store, 5)
    done = store.outbox.renumber(3, [3], 1000)
    assert done is not None
    assert _by_i(store) == {3: 1001, 4: 1002, 5: 1003}  # 1, 2 held; 3 conflicts; 4, 5 unknown
    assert store.outbox.acked_seq() == 1000
    _gapless(store)
    assert store.outbox.append("event", {"kind": "x"}, T0) == 1004


def test_renumber_resigns_and_keeps_the_session_row_pointing_at_its_end(store: Store) -> None:
    from edge.cache import SessionRow

    sid = str(uuid.uuid4())
    with store.transaction(durable=True):
        store.sessions.upsert(SessionRow(sid, "P1-1", "ended", "remote", started_at=1))
        seq = store.outbox.append("session_ended", {"session_id": sid, "signature": "old"}, T0)
        store.sessions.update(sid, ended_seq=seq)
    seen: list[int] = []

    def resign(wire: dict) -> dict:
        seen.append(wire["seq"])
        return {**wire, "signature": f"signed-{wire['seq']}"}

    store.outbox.renumber(0, [seq], 50, resign=resign)
    rec = store.outbox.get(51)
    assert rec is not None and rec.body["signature"] == "signed-51" and seen == [51]
    assert store.sessions.get(sid).ended_seq == 51


def test_kill_9_during_renumber_leaves_the_old_numbering_or_the_new(tmp_path: Path) -> None:
    seed = int(os.environ.get("JC_CRASH_SEED", time.time_ns() % 2**32))
    rng = random.Random(seed)
    built = tmp_path / "built"
    built.mkdir()
    subprocess.run([sys.executable, str(CHILD), str(built / "s.db"), "build"], check=True, timeout=120)
    outcomes = {"old": 0, "new": 0}
    for n in range(8):
        work = tmp_path / f"w{n}"
        shutil.copytree(built, work)
        proc = subprocess.Popen([sys.executable, str(CHILD), str(work / "s.db"), "renumber"],
                                stdout=subprocess.PIPE)
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.0, 0.06))  # the renumbering takes about that long
        proc.send_signal(signal.SIGKILL)
        out = proc.stdout.read()
        proc.wait()
        s = Store.open(work / "s.db")
        try:
            by_i = _by_i(s)
            _gapless(s)
            if s.outbox.acked_seq() == child.ACKED:
                outcomes["old"] += 1
                assert b"done" not in out
                assert by_i == {i: i for i in range(child.ACKED + 1, child.N + 1)}
            else:
                outcomes["new"] += 1
                assert s.outbox.acked_seq() == child.HIGH
                held = {i for i in range(child.ACKED + 1, child.HELD + 1)} - set(child.CONFLICTS)
                assert set(by_i) == set(range(child.ACKED + 1, child.N + 1)) - held
                assert all(seq > child.HIGH for seq in by_i.values())
                order = sorted(by_i, key=by_i.__getitem__)
                assert order == sorted(by_i)  # moved in their order
        finally:
            s.close()
    assert outcomes["old"] + outcomes["new"] == 8, f"seed {seed}"
