"""Run every benchmark and rewrite bench/RESULTS.md.

    python bench/run_all.py                 # poll, reaction, shed, cpu, store, ingest (SQLite; PostgreSQL when reachable), driver API, console, trips
    python bench/run_all.py --soak          # … and the 1,000-kill crash soak (~20 min more)
    python bench/run_all.py --only reaction,cpu
    python bench/run_all.py --quick         # a short smoke run of each, printed, RESULTS.md untouched

Each bench is its own script, run here as a subprocess one after the other (never two at
once: the timings share this machine's cores). RESULTS.md gets a summary (every figure
beside its target or same-run baseline, as a ratio) and one section per bench: what was
measured and how, its table, the command and the date. A bench not run this time keeps its
previous section (and date). A fresh section keeps the figures of the run it replaces under
**Before**, and the summary shows them in its `before` column. A bench that fails is recorded as failed with its error. The
hand-written block between `<!-- notes -->` and `<!-- /notes -->` is kept as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "RESULTS.md"
sys.path.insert(0, str(BENCH))

from harness import code_version, table  # noqa: E402

Row = list[str]  # figure, measured, target or baseline, ratio, met


@dataclass
class Bench:
    name: str
    title: str
    args: list[str]
    quick: list[str]
    how: str
    summary: Callable[[str, dict[str, Any] | None], list[Row]]
    json_out: bool = False
    timeout_s: float = 1800.0
    enabled: Callable[[], str | None] = lambda: None  # a reason to skip, or None


# ---- parsing the benches' own tables ----------------------------------------------------------


def md_rows(text: str) -> list[list[str]]:
    """Body rows of every markdown table in `text` (header and separator rows dropped)."""
    out, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if set("".join(cells)) <= set("-: "):
            continue
        if i + 1 < len(lines) and set(lines[i + 1].replace("|", "").strip()) <= set("-: ") and lines[i + 1].startswith("|"):
            continue  # a header row
        out.append(cells)
    return out


def num(text: str) -> float:
    m = re.search(r"-?[\d,]*\.?\d+", text)
    return float(m.group(0).replace(",", "")) if m else float("nan")


def yes(ok: bool) -> str:
    return "yes" if ok else "**NO**"


def poll_summary(out: str, _: dict | None) -> list[Row]:
    rows = []
    for r in md_rows(out):
        if len(r) < 10:
            continue
        case, med, ratio, target, met = r[0], r[3], r[6], r[8], r[9]
        if case == "tcp":
            rows.append([f"poll cycle, 32 guns + meter, {case} (median)", med, target,
                         f"{num(med) / 50:.2f}", yes(met == "yes")])
        else:
            rows.append([f"poll cycle, 32 guns + meter, {case} (median / wire-time limit)", f"{med} (limit {r[5]})",
                         target, ratio, yes(met == "yes")])
    m = re.search(r"peak RSS: ([\d.]+) MB", out)
    if m:
        rows.append(["poll bench process peak RSS (drivers only)", f"{m.group(1)} MB", "< 80 MB",
                     f"{float(m.group(1)) / 80:.2f}", yes(float(m.group(1)) < 80)])
    return rows


def reaction_summary(out: str, data: dict | None) -> list[Row]:
    rows = []
    for r in (data or {}).get("rows", []):
        rows.append([f"reaction {r['case']}, {r['step']} (p50 / p99 per gun; last of 32 guns p99)",
                     f"{r['p50_s']} / {r['p99_s']} s; {r['last_gun_p99_s']} s", f"≤ {r['target_s']} s",
                     f"{r['p50_s'] / r['target_s']:.2f} / {r['p99_ratio']:.2f}",
                     f"p50 {yes(r['met_p50'])}, p99 {yes(r['met_p99'])}"])
        if "p99_floor_ratio" in r:
            rows.append([f"reaction {r['case']}, {r['step']}: p99 per gun / the line's floor (last gun)",
                         f"{r['p99_s']} s / {r['floor_last_s']} s", "≤ 1.1× floor", f"{r['p99_floor_ratio']:.2f}",
                         yes(r["met_floor"])])
        if "from_read_p99_s" in r:
            rows.append([f"reaction {r['case']}, {r['step']}: from the meter reading that saw the load, "
                         "p99 per gun / the line's floor",
                         f"{r['from_read_p99_s']} s / {r['floor_last_s']} s (wait for that reading p99 "
                         f"{r['sample_wait_p99_s']} s, bound {r['sample_wait_bound_s']} s)", "≤ 1.1× floor",
                         f"{r['from_read_floor_ratio']:.2f}", yes(r["met_from_read_floor"])])
    return rows


def shed_summary(out: str, data: dict | None) -> list[Row]:
    rows = []
    for r in (data or {}).get("rows", []):
        rows.append([f"shedding {r['case']}: transformer above its rating → back under it (median / max of "
                     f"{r['measured']} rounds, 16 sessions)", f"{r['median_s']} / {r['max_s']} s",
                     f"≤ {r['target_s']} s", f"{(r['max_s'] or 0) / r['target_s']:.2f}", yes(r["met"])])
    return rows


def cpu_summary(out: str, data: dict | None) -> list[Row]:
    rows = []
    for r in (data or {}).get("results", []):
        rows.append([f"gateway CPU, 32 guns, {r['sessions_start']} sessions, {r['case']}",
                     f"{r['cpu_pct']} % of a core ({r['cpu_ms_per_cycle']} ms per poll cycle)", "< 5 %",
                     f"{r['cpu_pct'] / 5:.2f}", yes(r["cpu_pct"] < 5)])
        rows.append([f"gateway peak RSS, 32 guns, {r['case']}", f"{r['rss_peak_mb']} MB", "< 80 MB",
                     f"{r['rss_peak_mb'] / 80:.2f}", yes(r["rss_peak_mb"] < 80)])
    return rows


def store_summary(out: str, _: dict | None) -> list[Row]:
    rows = []
    for r in md_rows(out):
        if len(r) == 5:
            rows.append([f"store: {r[0]} (records/s)", r[1], f"plain sqlite3 {r[3]}", r[4], "(baseline)"])
    return rows


def ingest_summary(db: str, documented: str) -> Callable[[str, dict | None], list[Row]]:
    def summary(out: str, _: dict | None) -> list[Row]:
        rows = []
        for r in md_rows(out):
            if len(r) != 2:
                continue
            if r[0].startswith("throughput"):
                measured = num(r[1].replace("**", ""))
                rows.append([f"ingest throughput, 1000 stations, {db}", r[1].replace("**", ""),
                             f"docs/cloud.md: {documented} records/s (earlier run)",
                             f"{measured / num(documented):.2f}", "(reference)"])
            elif r[0].startswith("ack latency from publish"):
                rows.append([f"ingest mass reconnect (spread over the bench's --reconnect-spread, default "
                             f"30 s), ack p50 / p99 / max from publish, {db}", r[1],
                             "docs/cloud.md: p99 ~2.4 s with all 1000 at one moment (earlier run; not "
                             "the same load)", "-", "(reference)"])
        return rows
    return summary


def drain_summary(out: str, _: dict | None) -> list[Row]:
    for r in md_rows(out):
        if len(r) == 9 and r[0].isdigit():
            rate = num(r[2])
            return [[f"outbox drain after an outage, {int(r[0]):,} records (broker + ingest, acked)", r[2],
                     "≥ 10,000 rec/s", f"{rate / 10_000:.2f}", yes(rate >= 10_000)],
                    ["  (baseline: the store's append rate, same run)", r[5], "-", "-", "(baseline)"]]
    return []


def soak_summary(out: str, data: dict | None) -> list[Row]:
    if not data:
        return []
    t = data["totals"]
    return [["crash soak: SIGKILLs (restarts), records and sessions checked",
             f"{t['kills']} kills ({t['restarts']} restarts), {t['records']:,} records, {t['sessions']} sessions",
             "0 violations", f"{data['violations']} violations", yes(data["violations"] == 0)]]


def driver_api_summary(out: str, data: dict | None) -> list[Row]:
    if not data:
        return []
    rows: list[Row] = []
    h, p = data["health"], data["poll"]

    def at(c: dict, unit: str = "req/s") -> str:
        a = c["at"]
        return (f"{c['capacity_per_s']:,} {unit} (p50 {a['p50_ms']} / p99 {a['p99_ms']} ms, "
                f"{a['server_cpu_ms_per_req']} ms server CPU per request)" if a else "none met p99 < 200 ms")

    if h is not None:
        rows += api_rows(data, h, p, at)
    n = data["notify"]
    if not n["measured"]:
        rows.append([f"payment callbacks per second (WeChat Pay notify): {n['why']}", "not measured", "-", "-", "-"])
    for b in n["backends"]:
        bh, bn, chk = b["health"], b["notify"], b["check"]
        base = bh["capacity_per_s"]
        rows.append([f"payment callbacks per second at p99 < 200 ms: POST /api/v1/pay/wechat/notify, {b['backend']} "
                     "(signed, AES-GCM resource; each notification 3 times: 2 at once, 1 after)",
                     f"{at(bn, 'callbacks/s')}; within WeChat's 5 s limit "
                     f"{bn.get('wechat_capacity_per_s', '-')} callbacks/s; most completed {bn['max_achieved_per_s']}/s, "
                     f"{bn['cpu_ms_per_callback']} ms server CPU per callback",
                     f"baseline GET /api/v1/health, same gunicorn, same run: {at(bh)}",
                     f"{bn['capacity_per_s'] / base:.2f}" if base else "-",
                     "(baseline)" if not chk["problem_count"] else f"**{chk['problem_count']} credit problems**"])
        rows.append([f"  (credited exactly once, {b['backend']})",
                     f"{chk['credited']} of {chk['recharges']} recharges credited, each once "
                     f"({chk['answered_204']} answered 204)", "each once", f"{chk['problem_count']} problems",
                     yes(chk["problem_count"] == 0)])
    return rows


def api_rows(data: dict, h: dict, p: dict, at: Callable[[dict], str]) -> list[Row]:
    rows: list[Row] = []
    base = h["capacity_per_s"]

    # the ratio to the same run's /health first: the machine is shared, its load moves both
    polls = [c for c in (p, data.get("poll304")) if c is not None]
    cpu = data.get("cpu")
    if cpu:
        hc = cpu["rows"][0]["cpu_ms"]
        for r in cpu["rows"][1:]:
            rows.append([f"progress poll ÷ GET /api/v1/health, CPU per request in-process (bench/poll_cpu.py, "
                         f"PostgreSQL; load average {cpu['loadavg'][0]}–{cpu['loadavg'][1]}): {r['endpoint']}",
                         f"{r['cpu_ms']} ms", f"/health {hc} ms", f"{r['cpu_ms'] / hc:.2f}", "(baseline)"])
    for c in polls:
        a, ha = c["at"], h["at"]
        load = f"; load average {a['loadavg']}" if a else ""
        rows.append([f"progress poll ÷ GET /api/v1/health, capacity at p99 < 200 ms, same gunicorn, same run: "
                     f"{c['name']}", f"{c['capacity_per_s']:,} req/s{load}",
                     f"/health {base:,} req/s" + (f"; load average {ha['loadavg']}" if ha else ""),
                     f"{c['capacity_per_s'] / base:.2f}" if base else "-", "(baseline)"])
        if a and ha:
            rows.append([f"  server CPU per request at that step (gunicorn processes), poll ÷ /health: {c['name']}",
                         f"{a['server_cpu_ms_per_req']} ms", f"/health {ha['server_cpu_ms_per_req']} ms",
                         f"{a['server_cpu_ms_per_req'] / ha['server_cpu_ms_per_req']:.2f}"
                         if ha["server_cpu_ms_per_req"] else "-", "(baseline)"])
    rows.append([f"driver API baseline: GET /api/v1/health, req/s at p99 < 200 ms (gunicorn {data['workers']}x"
                 f"{data['threads']} gthread, PostgreSQL)", at(h), "-", "-", "(baseline)"])
    for c in polls:
        drivers = c["capacity_per_s"] * 5
        rows.append([f"drivers polling progress every 5 s at p99 < 200 ms, {c['name']}",
                     f"{drivers:,} drivers = {at(c)}", "≥ 10,000 drivers (2,000 req/s)", f"{drivers / 10_000:.2f}",
                     yes(drivers >= 10_000)])
    floor = {r["procs"]: r for r in data["settle"]["rows"] if r["mode"] == "floor"}
    for r in data["settle"]["rows"]:
        if r["mode"] != "orders":
            continue
        f = floor.get(r["procs"])
        rows.append([f"settlements per second through cloud.orders.service (create → billed, 5 transactions, "
                     f"ledger), {r['procs']} process(es), PostgreSQL", f"{r['per_s']} orders/s (p99 {r['p99_ms']} ms)",
                     f"floor: 5 one-row INSERT commits per order, {f['per_s']} /s" if f else "-",
                     f"{r['per_s'] / f['per_s']:.2f}" if f and f["per_s"] else "-",
                     "(baseline)" if not data["settle"]["ledger_problems"] else "**ledger broken**"])
    return rows


def console_summary(out: str, data: dict | None) -> list[Row]:
    if not data:
        return []
    rows = [[f"console home figures, {data['orders']:,} orders, {data['stations']:,} stations, PostgreSQL: "
             f"{r['case']} (median / p95 of {data['repeat']})", f"{r['median_ms']} / {r['p95_ms']} ms",
             f"< {r['target_ms']:g} ms", f"{r['ratio']:.2f}", yes(r["met"])] for r in data["rows"]]
    b = data["baseline"]
    rows.append([f"  (baseline: {b['case']}, same run)", f"{b['median_ms']} ms", "-",
                 f"home = {data['rows'][0]['x_baseline']}× baseline", "(baseline)"])
    pg = data.get("page")
    if pg:
        rows.append([f"console home page, {data['orders']:,} orders, {data['stations']:,} stations, PostgreSQL: "
                     f"{pg['case']} (median / p95 of {data['repeat']})", f"{pg['median_ms']} / {pg['p95_ms']} ms",
                     f"< {pg['target_ms']:g} ms", f"{pg['median_ms'] / pg['target_ms']:.2f}", yes(pg["met"])])
        rows.append([f"  (baseline: {pg['baseline_case']})", f"{pg['baseline_ms']} ms", "-",
                     f"page = {pg['x_baseline']}× baseline", "(baseline)"])
    return rows


def trips_summary(out: str, data: dict | None) -> list[Row]:
    if not data:
        return []
    label = "GENERATED grid" if data["generated"] else "real extract"
    return [
        [f"trip plan, {data['route_km']} km, {data['nodes']:,}-node road graph ({label}), {data['stations']:,} stations "
         f"(wall, median; load average {data['load_avg']})", f"{data['plan_median_ms']} ms", "< 1000 ms",
         f"{data['ratio_goal']:.2f}", yes(data["plan_median_ms"] < 1000)],
        ["  the same plan, CPU time of the process (median)", f"{data['plan_cpu_median_ms']} ms", "< 1000 ms",
         f"{data['ratio_goal_cpu']:.2f}", yes(data["plan_cpu_median_ms"] < 1000)],
        ["  (baseline: plain Dijkstra, route only, same graph, same run; wall / CPU)",
         f"{data['dijkstra_ms']} / {data['dijkstra_cpu_ms']} ms", "-",
         f"plan = {data['ratio_dijkstra']} / {data['ratio_dijkstra_cpu']} × Dijkstra", "(baseline)"],
    ]


def postgres_reachable() -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return None
    except OSError:
        return "PostgreSQL is not reachable at 127.0.0.1:5432"


BENCHES = [
    Bench("poll", "Poll cycle (drivers, 32 guns + meter)", ["poll_bench.py", "--markdown"],
          ["poll_bench.py", "--markdown", "--cycles", "6"],
          "`bench/poll_bench.py` (existing): the gateway's own drivers in this process read what the station "
          "loop reads each poll period — every gun's block and the meter's cycle registers — from `jc-sim run "
          "bench32` over Modbus TCP and over the RTU pty at 9600 and 115200 baud. Median and p99 cycle time; "
          "for RTU beside the wire-time limit computed from the frames the cycle put on the line (11 bits a "
          "character, 3.5-character gaps, 5 ms turnaround): target ratio ≤ 1.2; for TCP target < 50 ms.",
          poll_summary),
    Bench("reaction", "Load-control reaction time (threshold crossing → limit at the pile)",
          ["reaction_bench.py"], ["reaction_bench.py", "--crossings", "2"],
          "`bench/reaction_bench.py`: `jc-sim run bench/scenarios/react16.toml` (16 DC two-gun piles = 32 idle "
          "guns and the meter, 2000 kVA) and `jc-gateway run` as processes, the gateway with the product "
          "defaults (poll 1 s, meter S total every 0.25 s over TCP, 0.1 s on RTU at 9600 baud) and `dwell_s = 0` so that stepping down is timed too "
          "(in production the step down waits `dwell_s` = 10 s on purpose). The bench steps the base load "
          "30 → 65 → 90 → 65 → 30 % of rated kVA through the control API, 20 times, with a random 0–1 s pause "
          "before each step. t0 = the simulator's meter first reading the new load; t1 = each pile receiving "
          "the write of its gun's new start cap (rated → 50 % → 0 and back; edge/control.py targets()); both from "
          "the simulator's activity log (GET /log, one monotonic clock). p50/p99 over every gun write, and p99 "
          "of the last of the 32 guns per crossing; targets ≤ 0.5 s over TCP, ≤ 1 s on one 9600-baud RS-485 "
          "line (RTU over the simulator's pty, real wire timing). The RTU wire floor is the line time of the "
          "meter read begun as the load changes, then 0 (first gun) or 31 (last gun) whole limit writes before "
          "the write that t1 logs as its request arrives (until 2026-12-02 09:57 UTC it counted 1 / 32 writes, "
          "one write too many: 0.07 / 1.219 s instead of 0.033 / 1.183 s); the issue's measure is the per-gun "
          "p99 within 1.1× the last gun's floor.",
          reaction_summary, json_out=True),
    Bench("shed", "Emergency shedding (above the transformer's rating → back under it)",
          ["shed_bench.py"], ["shed_bench.py", "--rounds", "1"],
          "`bench/shed_bench.py`: `jc-sim run bench/scenarios/react16.toml` (16 DC two-gun piles, 2000 kVA) and "
          "`jc-gateway run` as processes, product defaults (`emergency_above_pct` 100, `dwell_s` 10) and free "
          "vend; an EV on gun 1 of every pile (16 sessions). Each round steps the base load so that the meter "
          "shows about 110 % of rated kVA; t0 = the first simulator meter reading above 100 %, t1 = the first "
          "back at or under 100 % (GET /meter polled as fast as it answers); then the base load goes back and "
          "the bench waits until the shedding is given back. Over Modbus TCP and one 9600-baud RTU line.",
          shed_summary, json_out=True),
    Bench("cpu", "Gateway CPU and memory at 32 guns", ["cpu_bench.py"], ["cpu_bench.py", "--seconds", "15"],
          "`bench/cpu_bench.py`: `jc-sim run bench32` and `jc-gateway run` (product defaults, free vend on every "
          "gun) as processes; EVs plugged on 8 guns, measured once 8 sessions charge, for 60 s of wall time: the "
          "gateway's utime + stime from /proc/<pid>/stat per second of wall time (% of one core) and per bus poll "
          "cycle (cycle count from the status API at both ends of the window), and its peak RSS (VmHWM). "
          "Targets: CPU < 5 % of one core, RSS < 80 MB. Same-run baselines: RSS of a bare interpreter importing "
          "the gateway's modules, and the simulator's CPU.",
          cpu_summary, json_out=True),
    Bench("store", "Durable record commits per second (the gateway's SQLite store)", ["store_bench.py"],
          ["store_bench.py", "--seconds", "0.5"],
          "`bench/store_bench.py` (existing): records per second through `edge.cache.Store` (outbox appends: "
          "single durable commits, group commits of 10 and 100, NORMAL telemetry) beside a bare sqlite3 "
          "connection with the same pragmas doing plain INSERTs, in the same run, in a temporary directory "
          "on this machine's disk. The ratio store / plain is the figure to judge; absolute rates are fsync-bound.",
          store_summary),
    Bench("ingest-sqlite", "Cloud ingest, SQLite", ["ingest_bench.py", "--stations", "1000"],
          ["ingest_bench.py", "--stations", "100", "--records", "50"],
          "`bench/ingest_bench.py --stations 1000` (existing): Mosquitto with the project's config, one "
          "`jc-cloud ingest` process on a fresh SQLite file, 1000 simulated stations (TLS client certificates) "
          "publishing 200 records each in `up` batches of 100; throughput from first publish to the last ack; "
          "then all reconnect, spread over 30 s as jittered backoff spreads them, and the ack latency is measured "
          "per station (target: p99 < 1 s for 1,000 stations reconnecting within 60 s). The "
          "reference is the figure docs/cloud.md quotes from an earlier run.",
          ingest_summary("sqlite", "24,000"), timeout_s=1200),
    Bench("drain", "Outbox drain after an outage (gateway → broker → ingest)", ["drain_bench.py"],
          ["drain_bench.py", "--records", "5000"],
          "`bench/drain_bench.py`: 100,000 records (events and meter minutes) appended to a gateway store while "
          "offline, then drained by the gateway's own sync code (edge/sync: MqttLink, Drain) to Mosquitto with the "
          "project's config (TLS, client certificates, ACL), stored by one `jc-cloud ingest` process on SQLite "
          "and acknowledged; records per second from the connection to the last ack (target ≥ 10,000), beside "
          "the rate the same store took the appends in the same run.",
          drain_summary, timeout_s=1200),
    Bench("ingest-postgres", "Cloud ingest, PostgreSQL",
          ["ingest_bench.py", "--stations", "1000", "--db", "postgres"],
          ["ingest_bench.py", "--stations", "100", "--records", "50", "--db", "postgres"],
          "As above on PostgreSQL (database `test` at 127.0.0.1:5432), run when it is reachable.",
          ingest_summary("postgres", "16,000"), timeout_s=1200, enabled=postgres_reachable),
    Bench("driver-api", "Driver API under load (gunicorn + PostgreSQL), settlements, payment callbacks",
          ["driver_api_bench.py"], ["driver_api_bench.py", "--quick"],
          "`bench/driver_api_bench.py`: the cloud app under gunicorn (`-k gthread -w 4 --threads 4`) on a fresh "
          "schema of database `test` (127.0.0.1:5432), 2,000 drivers logged in through cloud.drivers.service. A load "
          "generator in its own process (aiohttp) offers a Poisson stream of GETs at a fixed rate for 6 s after 1 s "
          "of warm-up, each with the next driver's token; latency from the moment a request was due, so a server "
          "falling behind is not hidden. The rate steps up (25, 50, 100, … 4,000 req/s) until p99 ≥ 200 ms, an "
          "error, or under 97 % of the offered rate completed; the last step meeting all three is the capacity. "
          "Baseline: the same app's `GET /api/v1/health`. Drivers polling progress: `GET /api/v1/driver/orders/<id>` "
          "(each driver its own charging order, read from its snapshot, cloud/charging/progress.py) stepped twice: "
          "plain (every answer a 200 with the body, as when the order changed since the last poll) and with "
          "`If-None-Match` holding the ETag the driver's last poll got (nothing changed: 304, as between two "
          "telemetry messages); drivers served = capacity × 5 s; the ratio to `/health` of the same gunicorn in the "
          "same run comes first in the figures, with the load average of the step. Beside it, `bench/poll_cpu.py` "
          "in the bench's process: CPU per request of /health, the poll and the 304 poll through the Flask test "
          "client (no HTTP server, no load generator). Server CPU "
          "(gunicorn master + workers, /proc) per request and the machine's load average are in each step's row: "
          "the load generator and PostgreSQL share the 2 cores, and so do other people's runs. Settlements: "
          "cloud.orders.service create + start_sent + session_started + session_ended + billed (four bill lines; "
          "five transactions, each driver a different one) by 1, 2 and 4 processes for 8 s each, beside the floor "
          "of the same processes making five one-row INSERT commits per order; cloud.ledger.service.verify must "
          "find the ledger whole after it. Payment callbacks (PostgreSQL, then SQLite, each in a gunicorn of its own "
          "with its own `/api/v1/health` baseline stepped the same way): recharges made through the driver API "
          "against the local fake WeChat Pay (cloud.fakes) and marked paid there; their notifications built as "
          "WeChat Pay builds them (AES-256-GCM resource, each delivery signed afresh, WECHATPAY2-SHA256-RSA2048), "
          "each delivered three times (a re-delivery at the same instant, a duplicate further on), POSTed as a Poisson "
          "stream stepped up like the GETs (every delivery must be answered 204); afterwards each recharge with a "
          "delivery answered is checked credited exactly once (one ledger posting, payment paid, drivers' cash = "
          "their credits, ledger verified whole).",
          driver_api_summary, json_out=True, timeout_s=1800, enabled=postgres_reachable),
    Bench("console", "Console home figures (1,000,000 orders, 1,000 stations, PostgreSQL)", ["console_bench.py"],
          ["console_bench.py", "--orders", "50000", "--drivers", "10000", "--topups", "20000", "--repeat", "5"],
          "`bench/console_bench.py`: a fresh schema of database `test` seeded on the server side "
          "(generate_series, triggers off, secondary indexes built after the load, then VACUUM ANALYZE) with 1,000 "
          "stations × 10 guns, 200,000 drivers, 1,000,000 orders over two years (19 in 20 settled, with their fee "
          "lines), one session per order, 300,000 top-ups and the settle transactions in the ledger; then "
          "`cloud.reports.service.home_figures` — what the console's home page calls: every figure with its "
          "comparisons, this month by day, the station map — timed for all stations and for an owner of 10 "
          "stations, interleaved with `SELECT 1` on the same connection as the same-run baseline; then the page "
          "itself, GET / through the console's Flask app as an administrator (figures, map points for the 1,000 "
          "stations, which have coordinates, this month's chart, the template), interleaved with GET /login "
          "(same app) as its baseline. The first call (which builds the closed days' rollup) is reported apart. "
          "Target: < 300 ms.",
          console_summary, json_out=True, timeout_s=2400, enabled=postgres_reachable),
    Bench("trips", "Trip planning (a ~500 km trip, 1,000,000-node road graph, 5,000 stations)", ["trips_bench.py"],
          ["trips_bench.py", "--side", "300", "--stations", "500", "--repeat", "2"],
          "`bench/trips_bench.py`: a GENERATED road graph (no regional extract ships with a package): a "
          "1,000 × 1,000 grid ~750 m apart with jitter, expressways every 40th line (110 km/h), national roads "
          "every 10th (70), local roads between (40); 5,000 stations at random nodes with DC/AC power, guns, "
          "occupancy now and a GENERATED hour-of-week occupancy forecast, 5 % capped and 2 % blocked, and a "
          "time-of-use price ladder. The plan is the planner's whole "
          "call after loading (snapping, A* route, stations near it snapped, the two spreads for their detours, "
          "label-setting over (station, SoC)) for a 75 kWh car leaving with 80 %; beside it plain Dijkstra for the "
          "route alone on the same graph. Wall time and the process's CPU time are both given: other helpers load "
          "this 2-core machine, so wall time carries their load (the load average is printed). Goal: < 1 s.",
          trips_summary, json_out=True, timeout_s=1800),
    Bench("soak", "Crash soak: kill -9 at random moments (1,000 by default)", ["crash_soak.py"], ["crash_soak.py", "--kills", "10", "--per-day", "10"],
          "`bench/crash_soak.py`: the crash test's scripted day (tests/support/crashday.py, shared with "
          "tests/gateway/test_crash.py: 4 guns with free vend, an EV on each every hour 07:00–15:00, a fault, "
          "the load crossing 50 % and 80 %, at 240× speed) ten times, each with 100 SIGKILLs of the gateway at "
          "random moments 0.05–1 s apart and a restart on the same store; after each day the test's own checks: "
          "every seq once and gapless, every session the piles ran recorded once (by the piles' session "
          "counters) with the energy of their lifetime registers, unbroken event chains, an intact store. "
          "Target: no violation.",
          soak_summary, json_out=True, timeout_s=4 * 3600),
]


# ---- RESULTS.md -------------------------------------------------------------------------------

NOTES_RE = re.compile(r"<!-- notes -->\n(?P<body>.*?)<!-- /notes -->", re.S)
SECTION_RE = re.compile(r"<!-- section:(?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- /section:(?P=name) -->", re.S)
FIGURES_HEAD = ["figure", "measured", "target / baseline", "ratio", "met"]


def sh_date(fmt: str | None = None) -> str:
    return subprocess.run(["date", *([fmt] if fmt else [])], capture_output=True, text=True).stdout.strip()


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}")


def run_bench(b: Bench, quick: bool) -> dict[str, Any]:
    args = b.quick if quick else b.args
    json_path = Path(tempfile.mkstemp(prefix=f"jc-{b.name}-", suffix=".json")[1]) if b.json_out else None
    cmd = [sys.executable, str(BENCH / args[0]), *args[1:]]
    if json_path:
        cmd += ["--json-out", str(json_path)]
    shown = "python bench/" + " ".join(args)
    print(f"[run_all] {b.name}: {shown}", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=b.timeout_s)
        out, err, rc = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err, rc = f"timed out after {b.timeout_s:g} s", -1
    data = None
    if json_path:
        try:
            data = json.loads(json_path.read_text() or "null")
        except (OSError, json.JSONDecodeError):
            data = None
        json_path.unlink(missing_ok=True)
    took = time.monotonic() - started
    # the soak exits 1 on a violation: its table is still the result
    failed = rc != 0 and not (b.name == "soak" and data is not None)
    print(f"[run_all] {b.name}: {'FAILED' if failed else 'done'} in {took:.0f} s", file=sys.stderr, flush=True)
    return {"out": out.strip(), "err": err, "rc": rc, "data": data, "failed": failed, "took": took,
            "command": shown, "date": sh_date(), "short_date": sh_date("+%Y-%m-%d %H:%M %Z"),
            "code": code_version()}


def section(b: Bench, r: dict[str, Any], previous: str | None = None) -> str:
    rows = [] if r["failed"] else b.summary(r["out"], r["data"])
    text = [f"## {b.title}", "", f"Measured {r['date']} (`{r['short_date']}`), in {r['took'] / 60:.1f} min, "
            f"with `{r['command']}`, code {r['code']}.", ""]
    if rows:
        text += ["**Figures**", "", table(FIGURES_HEAD, rows, "lllll"), ""]
    before = before_rows(previous)
    if before:
        # The run this one replaces, kept beside it so a change in the code shows as a change here.
        text += [f"**Before** (the previous run of this bench, `{before[1] or '?'}`, code {before[2] or '?'})", "",
                 table(FIGURES_HEAD, before[0], "lllll"), ""]
    text += ["**How**: " + b.how, ""]
    if r["failed"]:
        text += [f"**FAILED** (exit code {r['rc']}):", "", "```", (r["err"] or "").strip()[-3000:], "```", ""]
    if r["out"]:
        text += ["**Output**", "", r["out"], ""]
    return "\n".join(text)


def before_rows(previous: str | None) -> tuple[list[Row], str | None, str | None] | None:
    """The figures of the section a fresh run replaces: (rows, short date, code)."""
    if not previous:
        return None
    rows, when = figures_of(previous)
    code = re.search(r", code ([0-9a-f]{7,}[^.\s]*)", previous)
    return (rows, when, code.group(1) if code else None) if rows else None


def before_of(body: str) -> dict[str, str]:
    """figure → measured, from a section's **Before** table."""
    if "**Before**" not in body:
        return {}
    block = body.split("**Before**", 1)[1].split("\n\n", 1)[1].strip().split("\n\n", 1)[0]
    return {r[0]: r[1] for r in md_rows(block) if len(r) == len(FIGURES_HEAD)}


def figures_of(body: str) -> tuple[list[Row], str | None]:
    """The figures table and short date of a section written earlier."""
    m = re.search(r"\(`([^`]+)`\)", body)
    when = m.group(1) if m else None
    if "**Figures**" not in body:
        return [], when
    block = body.split("**Figures**", 1)[1].strip().split("\n\n", 1)[0]
    return [r for r in md_rows(block) if len(r) == len(FIGURES_HEAD)], when


def write_results(path: Path, fresh: dict[str, str], date: str) -> None:
    old = path.read_text() if path.exists() else ""
    old_sections = {m["name"]: m["body"] for m in SECTION_RE.finditer(old)}
    sections, summary_rows = [], []
    for b in BENCHES:
        body = fresh.get(b.name) or old_sections.get(b.name)
        if body is None:
            body = (f"## {b.title}\n\nNot run yet: `python bench/{' '.join(b.args)}`"
                    + (", or `python bench/run_all.py --soak`" if b.name == "soak" else "") + ".\n")
        rows, when = figures_of(body)
        before = before_of(body)
        summary_rows += [[row[0], row[1], before.get(row[0], "-"), *row[2:], when or "?"] for row in rows]
        sections.append(f"<!-- section:{b.name} -->\n{body.rstrip()}\n<!-- /section:{b.name} -->")
    head = [
        "# Benchmark results", "",
        "Written by `python bench/run_all.py` (`--soak` adds the crash soak; every bench also runs on its own). "
        f"Last run: {date}.", "",
        f"Machine: {machine()}. Code measured by the last run: {code_version()} (each section names its own).", "",
        "This is a shared 2-core machine and the simulator runs beside the gateway, so timings are noisy: "
        "figures are medians or percentiles over many samples, and each stands beside its target or a baseline "
        "measured in the same run, as a ratio (measured ÷ target or baseline; below 1 is inside a target).", "",
        "## Summary", "",
        "`before` is the same figure from the previous run of its bench (its section names that run's date "
        "and code).", "",
        table([FIGURES_HEAD[0], FIGURES_HEAD[1], "before", *FIGURES_HEAD[2:], "date"], summary_rows, "lllllll"), "",
    ]
    m = NOTES_RE.search(old)
    notes = m["body"].rstrip() if m else ("## Notes\n\nHand-written diagnosis and follow-ups go here, between the "
                                         "notes markers: `run_all.py` keeps this block as it is.")
    path.write_text("\n".join(head) + "\n" + "\n\n".join(sections)
                    + f"\n\n<!-- notes -->\n{notes}\n<!-- /notes -->\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--soak", action="store_true", help="also run the crash soak (~20 min)")
    ap.add_argument("--soak-kills", type=int, help="SIGKILLs for the soak (default: the soak's own 1000)")
    ap.add_argument("--only", help="comma-separated: " + ",".join(b.name for b in BENCHES))
    ap.add_argument("--quick", action="store_true", help="short runs, printed only (unless --output)")
    ap.add_argument("--output", type=Path, help=f"results file (default {RESULTS.relative_to(ROOT)})")
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else None
    if only and not only <= {b.name for b in BENCHES}:
        ap.error(f"--only takes {', '.join(b.name for b in BENCHES)}")
    if args.soak_kills:
        soak = next(b for b in BENCHES if b.name == "soak")
        soak.args = [*soak.args, "--kills", str(args.soak_kills)]
    date = sh_date()
    previous = {m["name"]: m["body"] for m in SECTION_RE.finditer(RESULTS.read_text())} if RESULTS.exists() else {}
    fresh: dict[str, str] = {}
    for b in BENCHES:
        if only is not None and b.name not in only:
            continue
        if b.name == "soak" and not args.soak and not (only and "soak" in only):
            continue
        reason = b.enabled()
        if reason:
            print(f"[run_all] {b.name}: skipped ({reason})", file=sys.stderr)
            continue
        fresh[b.name] = section(b, run_bench(b, args.quick), previous.get(b.name))
    output = args.output or (None if args.quick else RESULTS)
    if output is None:
        for body in fresh.values():
            print(body)
        return
    write_results(output, fresh, date)
    print(f"[run_all] wrote {output}", file=sys.stderr)
    if any("**FAILED**" in body for body in fresh.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
