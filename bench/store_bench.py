"""Durable record commits per second: the gateway's store against plain sqlite3.

    python bench/store_bench.py [--dir DIR] [--seconds S]

Run it on the disk the gateway will use (--dir): the figures are fsync-bound. Each case runs
for about --seconds. The baseline is a bare sqlite3 connection with the store's pragmas
(WAL, the same synchronous level) doing a plain INSERT of a same-sized JSON body: what the
store adds on top (seq assignment in the same transaction, the outbox JSON, savepoints,
the seq mark every 1000 seqs) shows as the ratio. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.cache import Store  # noqa: E402

BODY = {
    "session_id": "0b0c4a52-8f0e-4a7e-9d67-4b2a4f2d9a11",
    "energy_wh": 1_234_567,
    "power_w": 7_040,
    "voltage_v": 220.5,
    "current_a": 31.9,
    "soc": None,
    "cost_fen": 1_234,
}
TS = 1_767_225_600_000


def timed(run_commit: Callable[[], None], group: int, seconds: float) -> tuple[int, float]:
    """Commit groups until `seconds` pass; returns (records, elapsed)."""
    commits = 0
    start = time.perf_counter()
    while True:
        run_commit()
        commits += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and commits >= 5:
            return commits * group, elapsed


def bench_store(path: Path, group: int, durable: bool, seconds: float) -> tuple[int, float]:
    kind = "session_progress" if durable else "meter_minute"
    with Store.open(path) as store:
        if group == 1:

            def commit() -> None:
                store.outbox.append(kind, BODY, TS)

        else:

            def commit() -> None:
                with store.transaction(durable=durable):
                    for _ in range(group):
                        store.outbox.append(kind, BODY, TS)

        records = timed(commit, group, seconds)
        store.outbox.ack(store.outbox.last_seq())
        return records


def bench_plain(path: Path, group: int, durable: bool, seconds: float) -> tuple[int, float]:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    conn.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    raw = json.dumps({"seq": 0, "type": "session_progress", "ts": TS, **BODY}, separators=(",", ":"))

    def commit() -> None:
        conn.execute("BEGIN IMMEDIATE")
        for _ in range(group):
            conn.execute("INSERT INTO t (body) VALUES (?)", (raw,))
        conn.execute("COMMIT")

    try:
        return timed(commit, group, seconds)
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=None, help="where to put the databases")
    parser.add_argument("--seconds", type=float, default=1.5, help="time per case")
    args = parser.parse_args()

    cases = [
        ("durable, 1 record per commit", 1, True),
        ("durable, group commit of 10", 10, True),
        ("durable, group commit of 100", 100, True),
        ("telemetry (NORMAL), 1 per commit", 1, False),
    ]
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="store-bench-") as tmp:
        where = Path(tmp)
        print(f"SQLite {sqlite3.sqlite_version}, Python {platform.python_version()}, "
              f"{platform.machine()}, databases in {where}")
        print()
        print("| case | store records/s | store commits/s | plain sqlite3 records/s | store / plain |")
        print("|---|---:|---:|---:|---:|")
        for n, (name, group, durable) in enumerate(cases):
            recs, secs = bench_store(where / f"store{n}.db", group, durable, args.seconds)
            base_recs, base_secs = bench_plain(where / f"plain{n}.db", group, durable, args.seconds)
            store_rate = recs / secs
            plain_rate = base_recs / base_secs
            print(
                f"| {name} | {store_rate:,.0f} | {store_rate / group:,.0f} | "
                f"{plain_rate:,.0f} | {store_rate / plain_rate:.2f} |"
            )


if __name__ == "__main__":
    main()
