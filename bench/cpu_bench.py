"""CPU per poll cycle and peak RSS of the gateway process at 32 guns.

    python bench/cpu_bench.py [--seconds 60] [--sessions 8] [--only tcp|rtu9600|rtu115200] [--json]

Runs `jc-sim run bench32` (16 DC two-gun piles, 32 guns, and the meter) and `jc-gateway run`
as processes — over Modbus TCP, and over one RTU line (the simulator's pty, real wire timing)
at 9600 and at 115200 baud — the gateway with the product's defaults (poll period 1 s, meter S total every
0.25 s over TCP and 0.1 s on RTU at 9600 baud, heartbeat 5 s) and free vend on every gun. EVs are plugged on `--sessions` guns and
the bench waits until that many sessions charge; then, for `--seconds` of wall time, it reads
the gateway's CPU time (utime + stime from /proc/<pid>/stat) and its peak RSS (VmHWM from
/proc/<pid>/status), and the bus's poll-cycle count from the status API at both ends (the
only two status requests in the window).

Reported: CPU as % of one core (target < 5 %), CPU ms per poll cycle, cycles/s, peak RSS
(target < 80 MB), each beside its target as a ratio; as baselines from the same run, the RSS
of a bare interpreter that only imports the gateway (`import edge.cli, edge.station`), and
the simulator's own CPU (the other process on the machine).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import ROOT, BenchGateway, code_version, proc_cpu_s, proc_rss_kb, table

from tests.support.sim import SimProcess

CPU_TARGET_PCT = 5.0
RSS_TARGET_MB = 80.0
CASES = {"tcp": None, "rtu9600": 9600, "rtu115200": 115200}  # transport: RTU baud


def import_baseline_mb() -> float:
    """Peak RSS of a bare interpreter after importing the gateway's modules."""
    code = ("import edge.cli, edge.station, resource, sys; "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def sessions_charging(status: dict[str, Any]) -> int:
    return sum(1 for g in status["guns"] if g["session"] is not None and g["state"] == "charging")


def run_case(case: str, seconds: float, sessions: int) -> dict[str, Any]:
    baud = CASES[case]
    rtu = baud is not None
    with tempfile.TemporaryDirectory(prefix="jc-cpu-") as tmp_s:
        tmp = Path(tmp_s)
        kw: dict[str, Any] = {"rtu": tmp / "tty", "baud": baud, "tcp": False} if rtu else {}
        with SimProcess("bench32", **kw) as sim:
            guns = [(d["unit"], n) for d in sim.devices if d["kind"] == "pile" for n in range(1, d["guns"] + 1)]
            gw = BenchGateway(sim, tmp / "gw", rtu=rtu, free_vend=True)
            with gw:
                gw.wait(lambda s: len(s["guns"]) == len(guns), timeout=120, what="every gun identified")
                for unit, n in guns[:sessions]:
                    sim.control("POST", f"/piles/{unit}/guns/{n}/plug",
                                {"ev": {"battery_kwh": 70, "start_soc": 25, "dc_max_power_w": 80000}})
                gw.wait(lambda s: sessions_charging(s) >= sessions, timeout=120,
                        what=f"{sessions} sessions charging")
                time.sleep(5.0)  # past the starts' own writes and records
                before = gw.status()
                sim_cpu0, cpu0, t0 = proc_cpu_s(sim.proc.pid), proc_cpu_s(gw.pid), time.monotonic()
                rss_max = 0
                while time.monotonic() - t0 < seconds:
                    time.sleep(1.0)
                    rss_max = max(rss_max, proc_rss_kb(gw.pid)["VmRSS"])
                cpu1, t1, sim_cpu1 = proc_cpu_s(gw.pid), time.monotonic(), proc_cpu_s(sim.proc.pid)
                after = gw.status()
                hwm = proc_rss_kb(gw.pid)["VmHWM"]
    wall = t1 - t0
    cpu = cpu1 - cpu0
    cycles = after["buses"][0]["cycles"] - before["buses"][0]["cycles"]
    return {
        "case": case, "guns": len(guns), "seconds": round(wall, 1),
        "sessions_start": sessions_charging(before), "sessions_end": sessions_charging(after),
        "cpu_s": round(cpu, 2), "cpu_pct": round(100 * cpu / wall, 2),
        "cycles": cycles, "cycles_per_s": round(cycles / wall, 2),
        "cpu_ms_per_cycle": round(1000 * cpu / cycles, 1) if cycles else None,
        "last_cycle_ms": after["buses"][0]["last_cycle_ms"],
        "rss_peak_mb": round(hwm / 1024, 1), "rss_window_max_mb": round(rss_max / 1024, 1),
        "sim_cpu_pct": round(100 * (sim_cpu1 - sim_cpu0) / wall, 1),
        "outbox_depth": after["outbox"]["depth"],
    }


def markdown(results: list[dict[str, Any]], baseline_mb: float) -> str:
    head = ["transport", "guns / sessions", "window", "CPU (% of one core)", "target", "ratio",
            "poll cycles/s", "CPU per poll cycle", "peak RSS", "target", "ratio", "simulator CPU"]
    rows = []
    for r in results:
        rows.append([r["case"], f"{r['guns']} / {r['sessions_start']}→{r['sessions_end']}", f"{r['seconds']} s",
                     f"{r['cpu_pct']} %", f"< {CPU_TARGET_PCT:g} %", round(r["cpu_pct"] / CPU_TARGET_PCT, 2),
                     r["cycles_per_s"], f"{r['cpu_ms_per_cycle']} ms", f"{r['rss_peak_mb']} MB",
                     f"< {RSS_TARGET_MB:g} MB", round(r["rss_peak_mb"] / RSS_TARGET_MB, 2), f"{r['sim_cpu_pct']} %"])
    notes = [f"Baseline, same run: a bare interpreter importing the gateway (`import edge.cli, edge.station`) "
             f"peaks at {baseline_mb:.1f} MB RSS."]
    for r in results:
        notes.append(f"- {r['case']}: {r['cycles']} poll cycles in {r['seconds']} s (last cycle "
                     f"{r['last_cycle_ms']} ms); met: CPU {'yes' if r['cpu_pct'] < CPU_TARGET_PCT else 'NO'}, "
                     f"RSS {'yes' if r['rss_peak_mb'] < RSS_TARGET_MB else 'NO'}")
    return table(head, rows, "llrrrrrrrrrr") + "\n\n" + "\n".join(notes) + f"\n\nCode measured: {code_version()}."


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="measurement window per transport")
    ap.add_argument("--sessions", type=int, default=8, help="guns with a session running")
    ap.add_argument("--only", choices=list(CASES))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--json-out", type=Path, help="also write the JSON to this file")
    args = ap.parse_args()
    results = [run_case(c, args.seconds, args.sessions) for c in CASES if not args.only or c == args.only]
    baseline = import_baseline_mb()
    data = {"results": results, "import_baseline_mb": round(baseline, 1)}
    if args.json_out:
        args.json_out.write_text(json.dumps(data, indent=1))
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        print(markdown(results, baseline))


if __name__ == "__main__":
    main()
