"""Emergency shedding: from the transformer load going above its rating to back under it, with
`jc-sim` and `jc-gateway run` as real processes.

    python bench/shed_bench.py [--rounds 5] [--only tcp|rtu9600] [--json] [--json-out FILE]

Station: bench/scenarios/react16.toml — 16 DC two-gun piles (32 guns, 60 kW each) and the
ARCM300T meter on one line, 2000 kVA. The gateway runs with the product's defaults (poll 1 s,
meter S total every 0.25 s over TCP and 0.1 s on RTU at 9600 baud, `emergency_above_pct` 100, `dwell_s` 10) and free vend on every
gun. An EV is plugged on gun 1 of every pile at 30 % base load: 16 sessions charge.

Each round steps the base load (PUT /base-load) so that the meter's S total is about 110 %
of rated kVA, and watches the simulator's meter (GET /meter, polled as fast as it answers):
t0 = the first reading above 100 %, t1 = the first reading back at or under 100 % after it.
Reported: t1 − t0 per round (median, max), beside the wire time of the shedding writes on
RTU. Then the base load goes back down and the bench waits until every session has its power
back (shedding is given back step by step after `dwell_s` below 95 %) before the next round.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import BENCH, BenchGateway, code_version, table

from tests.support.sim import SimProcess

SCENARIO = BENCH / "scenarios" / "react16.toml"
PF = 0.96
RATED_KVA = 2000.0
BASE_KW = 576.0  # 30 %
OVER_PCT = 110.0
TARGET_S = {"tcp": 2.0, "rtu9600": 3.0}


def meter_pct(sim: SimProcess) -> float:
    return float(sim.control("GET", "/meter")["load_pct"])


def wait_for(pred, timeout: float, what: str, every: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(every)
    raise RuntimeError(f"{what}: not within {timeout} s")


def one_round(sim: SimProcess, gw: BenchGateway, timeout: float = 60.0) -> dict[str, Any]:
    before = meter_pct(sim)
    extra_kva = (OVER_PCT - before) / 100 * RATED_KVA
    sim.control("PUT", "/base-load", {"kw": round(BASE_KW + extra_kva * PF, 1)})
    t0 = t1 = None
    peak = before
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pct = meter_pct(sim)
        now = time.monotonic()
        peak = max(peak, pct)
        if t0 is None and pct > 100.0:
            t0 = now
        elif t0 is not None and pct <= 100.0:
            t1 = now
            break
    status = gw.status()
    shed = status["load"].get("shed_w", {})
    alarms = {a["key"] for a in status["alarms"]}
    # back to the base load; wait until shedding is given back entirely
    sim.control("PUT", "/base-load", {"kw": BASE_KW})
    wait_for(lambda: not gw.status()["load"].get("shed_w"), 120.0, "shedding given back")
    time.sleep(2.0)
    return {"before_pct": round(before, 2), "peak_pct": round(peak, 2),
            "seconds": round(t1 - t0, 3) if t0 is not None and t1 is not None else None,
            "guns_shed": len(shed), "alarmed": "load_shed" in alarms}


def run_case(case: str, rounds: int) -> dict[str, Any]:
    rtu = case.startswith("rtu")
    with tempfile.TemporaryDirectory(prefix="jc-shed-") as tmp_s:
        tmp = Path(tmp_s)
        kw: dict[str, Any] = {"rtu": tmp / "tty", "baud": 9600, "tcp": False} if rtu else {}
        with SimProcess(SCENARIO, **kw) as sim:
            units = [d["unit"] for d in sim.devices if d["kind"] == "pile"]
            gw = BenchGateway(sim, tmp / "gw", rtu=rtu, free_vend=True)
            with gw:
                gw.wait(lambda s: len(s["guns"]) == 2 * len(units), timeout=180, what="every gun identified")
                for u in units:
                    sim.control("POST", f"/piles/{u}/guns/1/plug", {"ev": {"start_soc": 20}})
                gw.wait(lambda s: sum(1 for g in s["guns"] if g["session"] and g["power_w"] > 0) == len(units),
                        timeout=300, what="a session charging on every pile")
                time.sleep(3.0)
                results = [one_round(sim, gw) for _ in range(rounds)]
                status = gw.status()
    return {"case": case, "rounds": results, "sessions": len(units),
            "bus": status["buses"][0] if status.get("buses") else {}}


def summarise(c: dict[str, Any]) -> dict[str, Any]:
    times = [r["seconds"] for r in c["rounds"] if r["seconds"] is not None]
    target = TARGET_S[c["case"]]
    return {"case": c["case"], "rounds": len(c["rounds"]), "measured": len(times),
            "median_s": round(statistics.median(times), 3) if times else None,
            "max_s": round(max(times), 3) if times else None, "target_s": target,
            "met": bool(times) and max(times) <= target and len(times) == len(c["rounds"]),
            "peak_pct": max(r["peak_pct"] for r in c["rounds"]),
            "guns_shed": [r["guns_shed"] for r in c["rounds"]],
            "alarmed": all(r["alarmed"] for r in c["rounds"])}


def markdown(rows: list[dict[str, Any]]) -> str:
    head = ["transport", "rounds", "above rating → back under: median", "max", "target", "met",
            "peak load", "guns shed per round", "alarms raised"]
    body = [[r["case"], f"{r['measured']} / {r['rounds']}", f"{r['median_s']} s", f"{r['max_s']} s",
             f"≤ {r['target_s']} s", "yes" if r["met"] else "NO", f"{r['peak_pct']} %",
             ", ".join(map(str, r["guns_shed"])), "yes" if r["alarmed"] else "NO"] for r in rows]
    return table(head, body, "lrrrrlrll") + f"\n\nCode measured: {code_version()}."


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", choices=sorted(TARGET_S))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()
    cases = [run_case(c, args.rounds) for c in TARGET_S if not args.only or c == args.only]
    rows = [summarise(c) for c in cases]
    data = {"rows": rows, "cases": cases}
    if args.json_out:
        args.json_out.write_text(json.dumps(data, indent=1))
    print(json.dumps(data, indent=1) if args.json else markdown(rows))


if __name__ == "__main__":
    main()
