"""Trip planning on a regional road graph: plan time for a ~500 km trip beside a plain
Dijkstra over the same graph, in the same run.

    python bench/trips_bench.py [--side 1000] [--stations 5000] [--repeat 3] [--json-out F]

The graph is GENERATED (no regional extract ships with any package): a side × side grid of
nodes ~750 m apart with jitter (1,000,000 nodes at the default side), every edge a road both
ways; every 40th row and column an expressway (110 km/h), every 10th a national road
(70 km/h), the rest local roads (40 km/h). 5,000 stations at random nodes (seeded), DC 60,
120 or 180 kW or AC 7 kW, 2-8 guns with some busy, 5 % capped and 2 % blocked, a
time-of-use price ladder and a GENERATED occupancy forecast each (168 hourly shares: a
random base level with morning and evening peaks; the planner reads it at every arrival as
it reads a stored one, cloud/occupancy). The car: 75 kWh, 130-210 Wh/km by speed, 150 kW DC with the
default taper, leaving with 80 %, arriving anywhere with at least 10 %.

Measured: `plan` = the whole planner call the service makes after loading — snapping
origin and destination, A* for the fastest route, the stations near it found and snapped,
the two spreads for their detours, and the label-setting over (station, SoC) — median of
`--repeat` runs; `dijkstra` = plain Dijkstra from origin to destination on the same graph,
stopping when the destination is settled (the route alone, no stations). Both single-threaded
pure Python over the same CSR arrays. Goal: plan < 1 s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloud.occupancy.forecast import Profile  # noqa: E402
from cloud.trips import corridor as corridors  # noqa: E402
from cloud.trips.car import Car  # noqa: E402
from cloud.trips.graph import GraphBuilder, RoadGraph  # noqa: E402
from cloud.trips.planner import Candidate, Infeasible, PriceWindow, Request, plan  # noqa: E402

LAT0, LNG0 = 28.0, 112.0
DLAT = 0.75 / 111.0
DLNG = 0.75 / (111.0 * math.cos(math.radians(LAT0 + 3.4)))
T0 = 1_767_225_600_000  # 2026-01-01 08:00 Asia/Shanghai


def speed(i: int) -> float:
    return 110.0 if i % 40 == 0 else 70.0 if i % 10 == 0 else 40.0


def generate(side: int, seed: int) -> RoadGraph:
    rnd = random.Random(seed)
    b = GraphBuilder()
    for i in range(side):
        for j in range(side):
            b.add_node(LAT0 + i * DLAT + rnd.uniform(-0.15, 0.15) * DLAT,
                       LNG0 + j * DLNG + rnd.uniform(-0.15, 0.15) * DLNG)
    for i in range(side):
        row = i * side
        for j in range(side):
            u = row + j
            if j + 1 < side:
                b.add_road(u, u + 1, speed(i))
            if i + 1 < side:
                b.add_road(u, u + side, speed(j))
    return b.build()


def prices(rnd: random.Random) -> tuple[PriceWindow, ...]:
    base = rnd.randint(6_000, 14_000)
    ladder = [("valley", 0.5), ("flat", 1.0), ("peak", 1.5), ("flat", 1.0)]
    out, t = [], T0 - 3_600_000
    for k in range(16):  # 6 h windows over four days
        name, f = ladder[k % 4]
        out.append(PriceWindow(t, t + 6 * 3_600_000, int(base * f), name))
        t += 6 * 3_600_000
    return tuple(out)


def occupancy(rnd: random.Random) -> Profile:
    base, peak = rnd.uniform(0.05, 0.4), rnd.uniform(0.2, 0.6)
    share = tuple(min(1.0, base + (peak if h % 24 in (8, 9, 17, 18, 19) else 0.0)) for h in range(168))
    return Profile(share, (rnd.uniform(0, 4.2),) * 168)


def stations(g: RoadGraph, n: int, seed: int) -> list[Candidate]:
    rnd = random.Random(seed)
    occ = random.Random(seed + 1)  # its own draws: the stations are those of runs without forecasts
    out = []
    for k in range(n):
        node = rnd.randrange(g.n)
        kind = rnd.random()
        dc = kind < 0.85
        power = rnd.choice([60.0, 120.0, 180.0]) if dc else 7.0
        guns = rnd.randint(2, 8)
        level = rnd.choices(["normal", "capped", "blocked"], [93, 5, 2])[0]
        out.append(Candidate(f"S{k}", f"Station {k}", g.lat[node], g.lng[node], power, dc, guns,
                             rnd.randint(0, guns), level, True, prices(rnd), reservable=rnd.random() < 0.5,
                             occupancy=occupancy(occ)))
    return out


def load_avg() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", type=int, default=1000)
    ap.add_argument("--stations", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()

    t = time.perf_counter()
    g = generate(args.side, args.seed)
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    g.nearest(g.lat[0], g.lng[0])  # the node index, built once per loaded graph
    index_s = time.perf_counter() - t
    cands = stations(g, args.stations, args.seed)
    pts = {c.key: (c.lat, c.lng) for c in cands}
    s = args.side
    # ~487 km east and ~45 km north: about 530 km of road on the grid
    o_node, d_node = (s // 2) * s + s // 20, (s // 2 + s * 6 // 100) * s + s * 7 // 10
    origin, dest = (g.lat[o_node], g.lng[o_node]), (g.lat[d_node], g.lng[d_node])
    car = Car(battery_wh=75_000, consumption=((60, 130.0), (90, 160.0), (120, 210.0)), max_dc_kw=150.0)
    req = Request(soc_now=0.8, min_arrival_soc=0.1, min_stop_soc=0.1, depart_ms=T0, now_ms=T0)

    plan_s, cpu_s, phases, result, cor = [], [], [], None, None
    for _ in range(args.repeat):
        t, c = time.perf_counter(), time.process_time()
        cor = corridors.from_graph(g, origin, dest, pts)
        c1 = time.process_time()
        result = plan(cor, car, cands, req)
        plan_s.append(time.perf_counter() - t)
        cpu_s.append(time.process_time() - c)
        phases.append((c1 - c, time.process_time() - c1))
    assert cor is not None and result is not None
    c = time.process_time()
    g.astar(o_node, d_node)
    astar_cpu = time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    ref = g.dijkstra(o_node, d_node)
    dij_s, dij_cpu = time.perf_counter() - t, time.process_time() - c
    assert ref is not None
    assert abs(ref.time_s - sum(cor.seg_time)) < 1e-6 * ref.time_s, "A* and Dijkstra disagree"

    med = statistics.median(plan_s)
    data = {
        "generated": True, "nodes": g.n, "edges": g.edges, "stations": len(cands), "build_s": round(build_s, 1),
        "index_s": round(index_s, 2), "route_km": round(cor.length_m / 1000, 1),
        "route_h": round(sum(cor.seg_time) / 3600, 2), "astar_settled": cor.settled,
        "dijkstra_settled": ref.settled, "candidates": len(cor.access),
        "plan_ms": [round(x * 1000) for x in plan_s], "plan_median_ms": round(med * 1000),
        "dijkstra_ms": round(dij_s * 1000), "goal_ms": 1000, "ratio_goal": round(med / 1.0, 2),
        "ratio_dijkstra": round(med / dij_s, 3), "load_avg": load_avg(),
        "plan_cpu_median_ms": round(statistics.median(cpu_s) * 1000), "dijkstra_cpu_ms": round(dij_cpu * 1000),
        "ratio_goal_cpu": round(statistics.median(cpu_s), 2),
        "ratio_dijkstra_cpu": round(statistics.median(cpu_s) / dij_cpu, 3),
        "corridor_cpu_ms": round(statistics.median(p[0] for p in phases) * 1000),
        "stops_cpu_ms": round(statistics.median(p[1] for p in phases) * 1000), "astar_cpu_ms": round(astar_cpu * 1000),
        "feasible": not isinstance(result, Infeasible),
        "stops": [] if isinstance(result, Infeasible) else [
            {"sid": x["sid"], "arrive_pct": x["arrival_soc_pct"], "leave_pct": x["depart_soc_pct"],
             "charge_min": round(x["charge_s"] / 60, 1), "power_kw": x["power_kw"]} for x in result["stops"]],
        "total_h": None if isinstance(result, Infeasible) else round(result["total_s"] / 3600, 2),
    }
    print("| figure | value |\n| --- | --- |")
    print(f"| graph (GENERATED grid, not a real extract) | {g.n:,} nodes, {g.edges:,} directed edges, built in "
          f"{build_s:.1f} s (+ node index {index_s:.1f} s) |")
    print(f"| stations | {len(cands):,} ({data['candidates']} within 10 km of the route) |")
    print(f"| trip | {data['route_km']} km of road, {data['route_h']} h driving |")
    print(f"| plan (route + stations + stops), median of {args.repeat} | {data['plan_median_ms']} ms "
          f"(runs {data['plan_ms']}; A* settled {cor.settled:,} nodes) |")
    print(f"| plain Dijkstra, route only, same graph | {data['dijkstra_ms']} ms (settled {ref.settled:,} nodes) |")
    print(f"| plan ÷ goal 1 s / plan ÷ Dijkstra (wall) | {data['ratio_goal']} / {data['ratio_dijkstra']} |")
    print(f"| CPU time of this process: plan (median) / plain Dijkstra | {data['plan_cpu_median_ms']} ms / "
          f"{data['dijkstra_cpu_ms']} ms: ÷ goal {data['ratio_goal_cpu']}, ÷ Dijkstra {data['ratio_dijkstra_cpu']} |")
    print(f"| CPU by phase: route A* alone / corridor (A*, snapping, two spreads) / stops (label-setting) | "
          f"{data['astar_cpu_ms']} / {data['corridor_cpu_ms']} / {data['stops_cpu_ms']} ms |")
    print(f"| result | {'feasible' if data['feasible'] else 'no plan'}: {len(data['stops'])} stop(s) "
          f"{data['stops']}, {data['total_h']} h door to door |")
    print(f"| load average (1/5/15 min) at the end | {data['load_avg']} |")
    if args.json_out:
        args.json_out.write_text(json.dumps(data, indent=1))


if __name__ == "__main__":
    main()
