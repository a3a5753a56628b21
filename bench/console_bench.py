"""The console's home page figures at scale: 1,000,000 orders and 1,000 stations on PostgreSQL.

    python bench/console_bench.py [--orders N] [--stations N] [--repeat N] [--json-out F]

The moment measured is the last hour of the month before the current one (23:00 on its last
day, Shanghai time), the data ending there: the month windows then hold a whole month.

Seeds a fresh schema of database `test` at 127.0.0.1:5432 (migrated to head) on the server
side (generate_series; triggers off for the seed, as a restore would): 1,000 stations with
10 guns each and their live state (and coordinates, so the map draws all), 200,000 drivers, N orders spread evenly over the last two
years (19 in 20 settled, each with its electricity, service and idle lines), one ended
session per order, 300,000 top-ups in the ledger (two entries each) and a settle transaction
per settled order; then VACUUM ANALYZE. It then times, in one run and one connection,
`cloud.reports.service.home_figures` (exactly what the console's home page calls: every
figure, this month by day, the station map) for all stations and for an owner of 10 stations,
beside a trivial query (`SELECT 1`) as the same-run baseline; and then the page itself, GET /
through the console's Flask app as an administrator (figures, map points, chart, template),
beside GET /login in the same app and run. Prints a markdown table; the schema is dropped
afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from cloud.db import make_engine  # noqa: E402
from cloud.migrate import upgrade  # noqa: E402
from cloud.reports.service import home_figures  # noqa: E402

DSN = "postgresql+psycopg://{user}@127.0.0.1:5432/test"
DAY = 86_400_000
TARGET_MS = 300.0
SH = ZoneInfo("Asia/Shanghai")


def seed(
    s: Session, *, stations: int, orders: int, drivers: int, topups: int, now: int
) -> dict[str, float]:
    span = 730 * DAY
    p = {"now": now, "span": span, "n": orders, "st": stations, "dr": drivers, "tu": topups}
    steps = [
        # every station with an address and coordinates (a grid over southern China): the map
        # draws all of them, as a real operator's would
        (
            "stations",
            """INSERT INTO stations (sid, name, address, lat, lng, created_at)
            SELECT 'ST' || lpad(i::text, 4, '0'), '电站 ' || i, '地址 ' || i, 22.5 + (i % 40) * 0.2,
                   104.0 + (i / 40) * 0.6, :now - :span FROM generate_series(0, :st - 1) i""",
        ),
        (
            "station_state",
            """INSERT INTO station_state (sid, online, claimed_online, last_seen)
            SELECT sid, (hashtext(sid) % 10) <> 0, true, :now FROM stations""",
        ),
        (
            "guns",
            """INSERT INTO guns (sid, gun_id, pile_id, state, state_ts)
            SELECT s.sid, 'P' || g || '-1', 'P' || g,
                   (ARRAY['idle', 'charging', 'plugged', 'faulted', 'idle'])[1 + (hashtext(s.sid || g) & 3)], :now
            FROM stations s, generate_series(0, 9) g""",
        ),
        # the guns' triggers are off for the seed (as a restore's): their counts by state
        # as migration 0028_console10 fills them
        (
            "station_gun_counts",
            """INSERT INTO station_gun_counts (sid, state, n)
            SELECT sid, COALESCE(state, 'unknown'), COUNT(*) FROM guns GROUP BY sid, COALESCE(state, 'unknown')
            UNION ALL SELECT sid, '', COUNT(*) FROM guns GROUP BY sid""",
        ),
        (
            "drivers",
            """INSERT INTO drivers (appid, openid, blocked, created_at, updated_at, last_login_at)
            SELECT 'wxbench', 'o' || i, false, :now - :span + i::bigint * :span / :dr,
                   :now - :span + i::bigint * :span / :dr, :now FROM generate_series(1, :dr) i""",
        ),
        (
            "orders",
            """INSERT INTO orders (order_id, driver_id, sid, gun, limit_mode, limit_value, hold_fen,
                state, created_at, updated_at, settled_at, total_fen, debt_fen)
            SELECT 'o' || i, (1 + i % :dr)::text, 'ST' || lpad((i % :st)::text, 4, '0'), 'P' || (i % 10) || '-1',
                   'amount', 5000, 5000, CASE WHEN i % 20 = 0 THEN 'cancelled' ELSE 'settled' END,
                   c, c + 3600000, CASE WHEN i % 20 = 0 THEN NULL ELSE c + 3600000 END,
                   CASE WHEN i % 20 = 0 THEN NULL ELSE (i * 37) % 3000 + (i * 11) % 1500
                        + CASE WHEN i % 7 = 0 THEN 200 ELSE 0 END END, 0
            FROM (SELECT i, :now - :span + i::bigint * :span / :n AS c FROM generate_series(1, :n) i) x""",
        ),
        (
            "order_lines",
            """INSERT INTO order_lines (order_id, n, kind, period, energy_wh, fen)
            SELECT 'o' || i, k.n, k.kind, CASE WHEN k.n < 3 THEN '平' END,
                   CASE WHEN k.n < 3 THEN (i * 13) % 60000 END,
                   CASE k.n WHEN 1 THEN (i * 37) % 3000 WHEN 2 THEN (i * 11) % 1500
                            ELSE CASE WHEN i % 7 = 0 THEN 200 ELSE 0 END END
            FROM generate_series(1, :n) i,
                 (VALUES (1, 'electricity'), (2, 'service'), (3, 'idle')) k(n, kind)
            WHERE i % 20 <> 0""",
        ),
        (
            "sessions",
            """INSERT INTO sessions (session_id, sid, status, gun, order_id, energy_start_wh,
                energy_wh, energy_stop_wh, started_at, ended_at)
            SELECT 's' || i, 'ST' || lpad((i % :st)::text, 4, '0'), 'ended', 'P' || (i % 10) || '-1', 'o' || i,
                   1000000, 1000000 + (i * 13) % 60000, 1000000 + (i * 13) % 60000,
                   c, c + (1 + i % 5) * 1200000
            FROM (SELECT i, :now - :span + i::bigint * :span / :n AS c FROM generate_series(1, :n) i) x""",
        ),
        (
            "ledger accounts",
            """INSERT INTO ledger_accounts (code, driver_id, kind, balance, created_at)
            SELECT 'platform' || CHR(58) || 'clearing', NULL, 'clearing', NULL, :now UNION ALL
            SELECT 'driver:' || i || CHR(58) || 'cash', i::text, 'cash', 0, :now FROM generate_series(1, :dr) i""",
        ),
        (
            "ledger top-ups",
            """INSERT INTO ledger_transactions (id, idem_key, kind, driver_id, fingerprint,
                sealed, created_at)
            SELECT i, 'topup-' || i, 'top_up', (1 + i % :dr)::text, 'bench', true,
                   :now - :span + i::bigint * :span / :tu FROM generate_series(1, :tu) i""",
        ),
        (
            "ledger settles",
            """INSERT INTO ledger_transactions (id, idem_key, kind, driver_id, order_id,
                fingerprint, sealed, created_at)
            SELECT :tu + i, 'close-hold' || CHR(58) || 'o' || i, 'settle', (1 + i % :dr)::text, 'o' || i, 'bench', true,
                   :now - :span + i::bigint * :span / :n + 3600000
            FROM generate_series(1, :n) i WHERE i % 20 <> 0""",
        ),
        (
            "ledger entries",
            """INSERT INTO ledger_entries (txn_id, account_id, amount)
            SELECT i, CASE WHEN leg = 0 THEN (SELECT id FROM ledger_accounts WHERE code = 'platform' || CHR(58) || 'clearing')
                           ELSE (SELECT id FROM ledger_accounts WHERE code = 'driver:' || (1 + i % :dr) || CHR(58) || 'cash') END,
                   CASE WHEN leg = 0 THEN -1 ELSE 1 END * (1000 * (1 + i % 30))
            FROM generate_series(1, :tu) i, generate_series(0, 1) leg""",
        ),
    ]
    took = {}
    # A restore-style load: the ledger's per-row triggers off for this session only, and the
    # secondary indexes of the big tables built once at the end rather than row by row.
    s.execute(text("SET session_replication_role = replica"))
    s.execute(text("SET maintenance_work_mem = '256MB'"))
    big = ("orders", "order_lines", "sessions", "drivers", "ledger_transactions", "ledger_entries")
    indexes = s.execute(
        text(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema() "
            "AND i.tablename = ANY(:t) AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
            "WHERE c.conname = i.indexname AND c.connamespace = current_schema()::regnamespace)"
        ),
        {"t": list(big)},
    ).all()
    for name, _ in indexes:
        s.execute(text(f'DROP INDEX "{name}"'))
    for name, sql in steps:
        t0 = time.perf_counter()
        s.execute(text(sql), p)
        took[name] = time.perf_counter() - t0
        print(f"[console_bench] seeded {name} in {took[name]:.1f} s", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    for _, ddl in indexes:
        s.execute(text(ddl))
    took["indexes"] = time.perf_counter() - t0
    s.execute(text("SET session_replication_role = origin"))
    s.execute(
        text("SELECT setval(pg_get_serial_sequence('ledger_transactions', 'id'), :m)"),
        {"m": topups + orders},
    )
    s.commit()
    return took


def page_timings(url: str, now: int, repeat: int) -> dict[str, list[float]]:
    """The console's home page itself (GET /, rendered: figures, map points, chart data) for
    an administrator, beside the login page (GET /login: a template and a CSRF token, no
    query) as the same-run baseline; through the Flask app in this process (no HTTP server:
    what is timed is the request's work), the console's clock at the bench's `now`."""
    import tempfile

    from argon2 import PasswordHasher

    from cloud import create_app
    from cloud.operators import service as operators
    from tests.console.support import login, make_operator

    operators.HASHER = PasswordHasher(
        time_cost=1, memory_cost=8, parallelism=1
    )  # the login is not timed
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["JC_INSTANCE_PATH"] = (
            tmp  # the app's instance files (compiled catalogues) outside the repo
        )
        app = create_app({"DATABASE_URL": url, "CA_DIR": tmp, "TESTING": True})
        app.extensions["jc_console"]["clock"] = lambda: now
        try:
            make_operator(app, "bench-admin", "admin")
        except operators.OperatorError:
            pass  # a kept schema (--schema) has it from an earlier run, with the same password
        admin, anonymous = app.test_client(), app.test_client()
        assert login(admin, "bench-admin").status_code in (302, 303)
        first = admin.get("/")
        assert first.status_code == 200 and b'id="home-data"' in first.data, first.status_code
        out: dict[str, list[float]] = {"home": [], "login": [], "bytes": [float(len(first.data))]}
        for _ in range(repeat):
            out["login"] += timed(lambda: anonymous.get("/login"), 1)
            out["home"] += timed(lambda: admin.get("/"), 1)
        return out


def timed(fn, repeat: int) -> list[float]:  # noqa: ANN001
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def pct(xs: list[float], q: float) -> float:
    ys = sorted(xs)
    return ys[min(len(ys) - 1, int(round(q * (len(ys) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--stations", type=int, default=1_000)
    ap.add_argument("--drivers", type=int, default=200_000)
    ap.add_argument("--topups", type=int, default=300_000)
    ap.add_argument("--repeat", type=int, default=21)
    ap.add_argument("--user", default="postgres")
    ap.add_argument("--keep", action="store_true", help="keep the schema (its name is printed)")
    ap.add_argument(
        "--schema", help="time an already seeded schema (kept by --keep) instead of seeding"
    )
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()

    schema = args.schema or f"jc_bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(DSN.format(user=args.user))
    if not args.schema:
        with admin.begin() as c:
            c.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = DSN.format(user=args.user) + f"?options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    try:
        # "Now" is the last hour of a month, the home page's heaviest moment: this month's
        # windows (and last month's and last year's beside them) hold a whole month of rows.
        local_now = datetime.now(SH)
        month0 = local_now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        now = int(month0.timestamp() * 1000) - 3_600_000
        t0 = time.perf_counter()
        took: dict[str, float] = {}
        if not args.schema:
            upgrade(engine)
            with Session(engine) as s:
                took = seed(
                    s,
                    stations=args.stations,
                    orders=args.orders,
                    drivers=args.drivers,
                    topups=args.topups,
                    now=now,
                )
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.execute(text("VACUUM ANALYZE"))
        seed_s = time.perf_counter() - t0
        owner = {f"ST{i:04d}" for i in range(0, args.stations, max(1, args.stations // 10))}
        with Session(engine) as s:
            # The first call builds the closed days' rollup (rollup.py); it is committed, as
            # the console's request (or the jobs) commits it, and timed on its own.
            t0 = time.perf_counter()
            home_figures(s, None, now=now)
            s.commit()
            first_ms = (time.perf_counter() - t0) * 1000
            rows = []
            # Interleaved, so that the noise of this shared machine falls on all three alike.
            base, full, mine = [], [], []
            for _ in range(args.repeat):
                base += timed(lambda: s.execute(text("SELECT 1")).scalar_one(), 1)
                full += timed(lambda: home_figures(s, None, now=now), 1)
                mine += timed(lambda: home_figures(s, owner, now=now), 1)
                s.rollback()
            figures = home_figures(s, None, now=now)["figures"]
        page = page_timings(url, now, args.repeat)
        med_base = statistics.median(base)
        for name, xs in (
            ("home figures, all stations", full),
            ("home figures, an owner of 10 stations", mine),
        ):
            med = statistics.median(xs)
            rows.append(
                {
                    "case": name,
                    "median_ms": round(med, 1),
                    "p95_ms": round(pct(xs, 0.95), 1),
                    "baseline_ms": round(med_base, 2),
                    "x_baseline": round(med / med_base, 1),
                    "target_ms": TARGET_MS,
                    "ratio": round(med / TARGET_MS, 2),
                    "met": med < TARGET_MS,
                }
            )
        data = {
            "orders": args.orders,
            "stations": args.stations,
            "drivers": args.drivers,
            "topups": args.topups,
            "repeat": args.repeat,
            "seed_s": round(seed_s, 1),
            "seed_steps_s": {k: round(v, 1) for k, v in took.items()},
            "rows": rows,
            "first_call_ms": round(first_ms),
            "baseline": {
                "case": "SELECT 1 (same connection)",
                "median_ms": round(med_base, 2),
                "p95_ms": round(pct(base, 0.95), 2),
            },
            "page": {
                "case": "GET / (the home page, rendered), an administrator",
                "median_ms": round(statistics.median(page["home"]), 1),
                "p95_ms": round(pct(page["home"], 0.95), 1),
                "bytes": int(page["bytes"][0]),
                "baseline_case": "GET /login (same app, same run)",
                "baseline_ms": round(statistics.median(page["login"]), 2),
                "x_baseline": round(
                    statistics.median(page["home"]) / statistics.median(page["login"]), 1
                ),
                "target_ms": TARGET_MS,
                "met": statistics.median(page["home"]) < TARGET_MS,
            },
            "check": {
                "orders_total_fen": figures["charging_fen"]["total"]["value"],
                "sessions_total": figures["sessions"]["total"]["value"],
            },
        }
        print(
            f"### console home figures: {args.orders:,} orders, {args.stations:,} stations, PostgreSQL\n"
        )
        print(
            f"Seeded in {seed_s:.0f} s (server-side generate_series, then VACUUM ANALYZE); "
            f"{args.repeat} runs of each case, interleaved.\n"
        )
        print(
            "| case | median | p95 | baseline (SELECT 1) median | × baseline | target | ratio | met |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['case']} | {r['median_ms']} ms | {r['p95_ms']} ms | {r['baseline_ms']} ms | "
                f"{r['x_baseline']} | < {TARGET_MS:g} ms | {r['ratio']} | {'yes' if r['met'] else '**NO**'} |"
            )
        pg = data["page"]
        print(
            f"| {pg['case']} ({pg['bytes']:,} bytes) | {pg['median_ms']} ms | {pg['p95_ms']} ms | "
            f"{pg['baseline_case']}: {pg['baseline_ms']} ms | {pg['x_baseline']} | < {TARGET_MS:g} ms | "
            f"{round(pg['median_ms'] / TARGET_MS, 2)} | {'yes' if pg['met'] else '**NO**'} |"
        )
        print(
            f"\nFirst call after the seed (builds the closed days' rollup, once): {first_ms:,.0f} ms."
        )
        print(
            f"\nAll-time settled revenue the figures found: {data['check']['orders_total_fen']:,} fen over "
            f"{data['check']['sessions_total']:,} sessions."
        )
        if args.json_out:
            args.json_out.write_text(json.dumps(data, indent=1))
    finally:
        engine.dispose()
        if not args.keep and not args.schema:
            with admin.begin() as c:
                c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        else:
            print(f"[console_bench] kept schema {schema}", file=sys.stderr)
        admin.dispose()


if __name__ == "__main__":
    main()
