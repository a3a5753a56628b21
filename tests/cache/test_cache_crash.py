"""kill -9 at random moments loses nothing and duplicates nothing.

A child process (crash_child.py) writes records, group commits, session updates in durable
transactions and acks in a loop, printing each after its commit returned. The parent kills
it with SIGKILL at a random moment (sometimes while it is still opening the store), reopens
the store and checks it against what the child reported. Set JC_CRASH_SEED to replay a run.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from edge.cache import Store

CHILD = Path(__file__).with_name("crash_child.py")
KILLS = 36


def _run_child(db: Path, run: str, rng: random.Random, early: bool, err) -> list[str]:
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(db), run], stdout=subprocess.PIPE, stderr=err
    )
    try:
        if early:  # anywhere from interpreter start through opening/migrating the store
            time.sleep(rng.uniform(0.0, 0.3))
            head = b""
        else:
            head = child.stdout.readline()
            time.sleep(rng.uniform(0.0, 0.06))
    finally:
        child.send_signal(signal.SIGKILL)
        rest = child.stdout.read()
        child.wait()
    assert child.returncode == -signal.SIGKILL, f"child {run} died by itself: see stderr"
    text = (head + rest).decode()
    return text.split("\n")[:-1]  # the last piece is empty or a line cut by the kill


def test_kill_9_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("JC_CRASH_SEED", time.time_ns() % 2**32))
    rng = random.Random(seed)
    db = tmp_path / "station.db"
    committed: dict[int, tuple[str, int]] = {}  # seq -> (run, i) as the child reported it
    energy: dict[str, int] = {}
    ended: set[str] = set()
    acked_reported = 0
    prev_last = 0
    started = time.monotonic()
    with open(tmp_path / "child.err", "wb") as err:
        for n in range(KILLS):
            run = f"r{n}"
            lines = _run_child(db, run, rng, early=n % 6 == 0, err=err)
            for line in lines:
                kind, *args = line.split()
                if kind == "C":
                    seq = int(args[0])
                    assert seq not in committed, f"seed {seed}: seq {seq} assigned twice"
                    committed[seq] = (args[1], int(args[2]))
                elif kind == "S":
                    energy[args[0]] = int(args[1])
                elif kind == "E":
                    ended.add(args[0])
                elif kind == "A":
                    acked_reported = max(acked_reported, int(args[0]))

            with Store.open(db) as s:
                ctx = f"seed {seed}, after kill {n}"
                assert s.recovery is None, ctx
                assert s.integrity_ok(), ctx
                last, acked = s.outbox.last_seq(), s.outbox.acked_seq()
                assert last >= prev_last, ctx  # the counter never goes back
                assert acked >= acked_reported, ctx
                records = {r.seq: r for r in s.outbox.batch(0, 1_000_000)}
                # gapless: everything above the ack is here, nothing is missing or extra
                assert sorted(records) == list(range(acked + 1, last + 1)), ctx
                # nothing lost, nothing reassigned: each reported seq holds what was reported
                for seq, (r, i) in committed.items():
                    assert seq <= last, f"{ctx}: committed seq {seq} lost (last {last})"
                    if seq > acked:
                        rec = records[seq]
                        assert (rec.body["run"], rec.body["i"]) == (r, i), f"{ctx}: seq {seq}"
                # no record stored twice under two seqs
                idents = [(rec.body["run"], rec.body["i"], rec.type) for rec in records.values()]
                assert len(idents) == len(set(idents)), ctx
                # durable session updates are there
                for sid, e in energy.items():
                    assert s.sessions.get(sid).energy_last_wh >= e, f"{ctx}: session {sid}"
                for sid in ended:
                    assert s.sessions.get(sid).state == "ended", ctx
                assert len(s.sessions.open_sessions()) <= 1, ctx
                # and the next append continues right after
                nxt = s.outbox.append("meter_minute", {"run": "parent", "i": n}, 1)
                assert nxt == last + 1, ctx
                committed[nxt] = ("parent", n)
                prev_last = nxt
    assert min(committed) == 1
    # the runs did real work between kills
    assert len(committed) > 4 * KILLS, f"only {len(committed)} commits in {KILLS} runs"
    print(f"seed {seed}: {len(committed)} commits, acked {acked_reported}, {len(energy)} sessions, "
          f"{len(ended)} ended, {time.monotonic() - started:.1f} s")
