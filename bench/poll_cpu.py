"""CPU per request of the drivers' progress poll beside /api/v1/health, in-process: the cloud
app (Flask test client) on a fresh schema of database `test` (127.0.0.1:5432), 50 drivers
with a charging order each (made as bench/driver_api_bench.py makes them), 20 warm-up
requests, then `--n` requests per endpoint per round, `time.process_time` per request.
No HTTP server or load generator shares the cores, so two versions of the code can be
compared in the same minutes (run it from each checkout in turn; bench/RESULTS.md notes).

    python bench/poll_cpu.py [--n 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
for p in (str(BENCH.parent), str(BENCH)):
    if p not in sys.path:
        sys.path.insert(0, p)

import driver_api_bench as b  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
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

        def run(label: str, path_of: object) -> None:
            def one(i: int) -> None:
                r = client.get(path_of(i), headers={"Authorization": "Bearer " + drivers[i % len(drivers)][1]})  # type: ignore[operator]
                assert r.status_code == 200, r.get_data(as_text=True)

            for i in range(20):
                one(i)
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(args.n):
                one(i)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            print(f"{label}: {cpu / args.n * 1000:.2f} ms CPU, {wall / args.n * 1000:.2f} ms wall per request")

        for _ in range(args.rounds):
            run("GET /api/v1/health", lambda i: "/api/v1/health")
            run("GET /api/v1/driver/orders/<id>", lambda i: f"/api/v1/driver/orders/{orders[i % len(orders)]}")
        with app.app_context():
            db.engine.dispose()


if __name__ == "__main__":
    main()
