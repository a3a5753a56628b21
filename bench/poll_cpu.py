"""CPU per request of the drivers' progress poll beside /api/v1/health, in-process: the cloud
app (Flask test client) on a fresh schema of database `test` (127.0.0.1:5432), 50 drivers
with a charging order each (made as bench/driver_api_bench.py makes them), 20 warm-up
requests, then `--n` requests per endpoint per round, `time.process_time` per request.
Three endpoints in turn each round: /health, the poll answered 200, the poll with
If-None-Match holding the ETag it answered (304). No HTTP server or load generator shares the
cores, so two versions of the code can be compared in the same minutes (run it from each
checkout in turn). bench/driver_api_bench.py runs it too and puts its table in its output.

    python bench/poll_cpu.py [--n 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
for p in (str(BENCH.parent), str(BENCH)):
    if p not in sys.path:
        sys.path.insert(0, p)

import driver_api_bench as b  # noqa: E402

HEALTH, POLL, POLL304 = "GET /api/v1/health", "GET /api/v1/driver/orders/<id>", "the same, If-None-Match (304)"


def measure(n: int, rounds: int) -> dict[str, Any]:
    """{rows: [{endpoint, cpu_ms (median of rounds), wall_ms, per_round}], loadavg: (start, end)}"""
    load0 = b.loadavg()
    with b.postgres_schema() as url, tempfile.TemporaryDirectory() as tmp:
        os.environ["JC_INSTANCE_PATH"] = str(Path(tmp) / "instance")
        from cloud import create_app
        from cloud.db import db
        from cloud.migrate import upgrade

        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench-driver-api-secret-key", "WECHAT_APPID": b.APPID,
                          "WECHAT_SECRET": "bench-secret-0123456789abcdef", "CA_DIR": str(Path(tmp) / "ca")})
        with app.app_context():
            upgrade(db.engine)
        drivers = b.make_drivers(url, 50)
        orders = b.seed_orders(url, [d for d, _ in drivers])
        client = app.test_client()
        tags: dict[int, str] = {}

        def one(path: str, i: int, conditional: bool) -> None:
            headers = {"Authorization": "Bearer " + drivers[i % len(drivers)][1]}
            if conditional and i % len(orders) in tags:
                headers["If-None-Match"] = tags[i % len(orders)]
            r = client.get(path, headers=headers)
            assert r.status_code == (304 if conditional and "If-None-Match" in headers else 200), r.status_code
            if path != "/api/v1/health" and "ETag" in r.headers:
                tags[i % len(orders)] = r.headers["ETag"]

        def run(path_of: Any, conditional: bool = False) -> tuple[float, float]:
            for i in range(20):
                one(path_of(i), i, conditional)
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(n):
                one(path_of(i), i, conditional)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            return cpu / n * 1000, wall / n * 1000

        cases = [(HEALTH, lambda i: "/api/v1/health", False),
                 (POLL, lambda i: f"/api/v1/driver/orders/{orders[i % len(orders)]}", False),
                 (POLL304, lambda i: f"/api/v1/driver/orders/{orders[i % len(orders)]}", True)]
        got: dict[str, list[tuple[float, float]]] = {c[0]: [] for c in cases}
        for _ in range(rounds):
            for label, path_of, conditional in cases:
                got[label].append(run(path_of, conditional))
        with app.app_context():
            db.engine.dispose()
    rows = [{"endpoint": label, "cpu_ms": round(statistics.median(c for c, _ in v), 3),
             "wall_ms": round(statistics.median(w for _, w in v), 3),
             "per_round": [round(c, 3) for c, _ in v]} for label, v in got.items()]
    return {"n": n, "rounds": rounds, "rows": rows, "loadavg": (load0, b.loadavg())}


def markdown(d: dict[str, Any]) -> str:
    health = d["rows"][0]["cpu_ms"]
    rows = [[r["endpoint"], r["cpu_ms"], f"{r['cpu_ms'] / health:.2f}", r["wall_ms"],
             " / ".join(str(x) for x in r["per_round"])] for r in d["rows"]]
    return "\n".join([
        f"**In-process CPU per request** (`bench/poll_cpu.py`: Flask test client, PostgreSQL, no HTTP server; "
        f"{d['n']} requests per endpoint per round, {d['rounds']} rounds, endpoints in turn; median of the rounds; "
        f"machine load average {d['loadavg'][0]} at the start, {d['loadavg'][1]} at the end)", "",
        b.table(["endpoint", "CPU ms per request", "÷ /health", "wall ms per request", "CPU ms per round"], rows)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(markdown(measure(args.n, args.rounds)))


if __name__ == "__main__":
    main()
