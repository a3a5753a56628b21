"""The trip planner (pure, no I/O): which stations to stop at on a corridor, how long to charge
at each and to what state of charge, minimising time and money together.

Search: the stops lie along the route in order (a station is reached from route point k_in
and left back to it at k_out; a leg i → j exists when j comes after i and k_in(j) ≥ k_out(i)),
so the stations form a directed acyclic graph and a label-setting pass in route order is
exact for it. A label at a station is one way to arrive: state of charge, elapsed time, money
spent, and the objective time × value of time + money. At a station a label charges either
just enough to reach the next stop (or the destination) at its minimum, to 80 % (where the DC
curve starts tapering), or to the most the driver allows; labels a station holds are pruned
to those no other beats on both SoC and objective. The charge time integrates the car's
curve against the gun's power, cut by the station's load level (capped: a share of rated
power; blocked or failsafe: no new sessions, so not a stop), after the expected wait for a
gun (occupancy now, relaxing towards the station's forecast for that hour of the week with
time to arrival, cloud/occupancy; none with a reservation held); the price is the one in
force when charging starts.

Invariant (property-tested): no planned arrival is below its minimum — every label is checked
before it is kept. When no label reaches the destination the answer says why: the furthest
point reachable and the next usable station or the destination beyond it.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

from cloud.occupancy.forecast import Profile, lead_weight, share_at_arrival, wait_s
from cloud.trips.car import Car
from cloud.trips.corridor import Corridor
from jcproto.tariff import fen_e4

NOT_A_STOP = frozenset({"blocked", "failsafe"})
TAPER_SOC = 0.8
EPS = 1e-9


@dataclass(frozen=True)
class PriceWindow:
    start_ms: int
    end_ms: int | None
    price_e4: int
    period: str

    def covers(self, t_ms: int) -> bool:
        return self.start_ms <= t_ms and (self.end_ms is None or t_ms < self.end_ms)


@dataclass(frozen=True)
class Candidate:
    """A station as a possible stop: its best gun's power (kW, DC or AC), how many guns give
    it and how many of those are busy now, its load level, and the prices ahead."""

    key: str
    name: str
    lat: float
    lng: float
    power_kw: float
    dc: bool
    guns: int
    busy: int
    load_level: str | None
    online: bool
    prices: tuple[PriceWindow, ...]
    reservable: bool = False
    occupancy: Profile | None = None  # the share of guns usually busy by hour of the week
    busy_until: tuple[int, ...] = ()  # when each busy gun is expected to free (ms), when known

    def price_at(self, t_ms: int) -> PriceWindow | None:
        return next((w for w in self.prices if w.covers(t_ms)), None)


@dataclass(frozen=True)
class Request:
    soc_now: float
    min_arrival_soc: float
    min_stop_soc: float
    depart_ms: int
    max_charge_soc: float = 1.0
    value_of_time_fen_per_h: int = 3_000  # ¥30 an hour of the driver's time
    reserve: bool = False  # the driver will reserve a gun where one is free now
    reserve_ahead_s: float = 1_800.0  # how far ahead a reservation can be held
    capped_power_share: float = 0.5  # a capped station starts sessions at this share of rated
    typical_busy: float = 0.5  # the share of guns busy at a station without an occupancy forecast
    session_s: float = 2_400.0  # how long a session ahead of us takes, on average
    occupancy_horizon_s: float = 1_800.0  # how fast occupancy now stops telling us anything
    now_ms: int | None = None  # when occupancy was seen (None: at departure); a departure hours ahead sees none of it


@dataclass(frozen=True)
class Infeasible:
    code: str  # soc_below_minimum, out_of_range, no_candidates
    facts: dict[str, Any]


@dataclass
class _Node:
    index: int
    cand: Candidate | None  # None: origin or destination
    k_in: int
    k_out: int
    in_wh: float = 0.0
    in_s: float = 0.0
    in_m: float = 0.0
    out_wh: float = 0.0
    out_s: float = 0.0
    out_m: float = 0.0
    labels: list[_Label] = field(default_factory=list)


@dataclass(slots=True)
class _Label:
    node: int
    soc: float  # arrival SoC
    t: float  # seconds since departure, at arrival
    cost: int
    obj: float
    drive_s: float
    charge_s: float
    wait_s: float
    dist_m: float
    parent: _Label | None
    stop: dict[str, Any] | None  # what was done at the parent node (None: origin)
    leg: dict[str, Any] | None


def _profile_wh(car: Car, lengths: tuple[float, ...], times: tuple[float, ...]) -> float:
    return sum(car.drive_wh(n, t) for n, t in zip(lengths, times, strict=True))


def busy_at_arrival(c: Candidate, eta_s: float, r: Request) -> float:
    """The share of the station's guns expected busy at an arrival `eta_s` after departure:
    occupancy now for arrivals soon, fading (e-folding `occupancy_horizon_s`, counted from
    `now_ms`) into the station's forecast for that hour of the week, or the typical level
    without one. When the busy guns' expected ends are known, those running past the arrival
    count as busy and only the rest fade into the forecast."""
    if c.guns <= 0:
        return 1.0
    at = r.depart_ms + int(eta_s * 1000)
    usual = r.typical_busy if c.occupancy is None else c.occupancy.at(at)
    ahead = 0.0 if r.now_ms is None else max(0.0, (r.depart_ms - r.now_ms) / 1000)
    if c.busy_until and len(c.busy_until) == c.busy:
        # guns whose sessions are expected to run past the arrival are busy then; the others
        # are free now or by then, and busy with the forecast's chance as now fades
        sure = sum(1 for f in c.busy_until if f > at) / c.guns
        return sure + (1 - sure) * (1 - lead_weight(ahead + eta_s, r.occupancy_horizon_s)) * usual
    return share_at_arrival(c.busy / c.guns, usual, ahead + eta_s, r.occupancy_horizon_s)


def expected_wait_s(c: Candidate, eta_s: float, r: Request) -> float:
    """Expected wait for a gun: the chance all of them are busy at arrival times how soon one
    frees up (cloud/occupancy/forecast.py `wait_s`)."""
    if c.guns <= 0:
        return math.inf
    if r.reserve and c.reservable and eta_s <= r.reserve_ahead_s:
        return 0.0
    return wait_s(busy_at_arrival(c, eta_s, r), c.guns, r.session_s)


def effective_kw(c: Candidate, r: Request) -> float:
    if not c.online or c.load_level in NOT_A_STOP:
        return 0.0
    share = r.capped_power_share if c.load_level == "capped" else 1.0
    return c.power_kw * share


def plan(corridor: Corridor, car: Car, candidates: list[Candidate], req: Request) -> dict[str, Any] | Infeasible:
    """The best plan, or why there is none."""
    cap = car.battery_wh
    if req.soc_now < min(req.min_stop_soc, req.min_arrival_soc) - EPS:
        return Infeasible("soc_below_minimum", {"soc_pct": _pct(req.soc_now),
                                                "min_pct": _pct(min(req.min_stop_soc, req.min_arrival_soc))})
    # route cumulative distance, time and energy at each point
    n_pts = len(corridor.points)
    cum_m, cum_s, cum_wh = [0.0] * n_pts, [0.0] * n_pts, [0.0] * n_pts
    for k in range(n_pts - 1):
        ln, tm = corridor.seg_len[k], corridor.seg_time[k]
        cum_m[k + 1] = cum_m[k] + ln
        cum_s[k + 1] = cum_s[k] + tm
        cum_wh[k + 1] = cum_wh[k] + car.drive_wh(ln, tm)
    excluded = {"offline": 0, "blocked": 0, "no_price": 0, "no_gun": 0}
    nodes: list[_Node] = [_Node(0, None, 0, 0)]
    usable: list[Candidate] = []
    for c in candidates:
        a = corridor.access.get(c.key)
        if a is None:
            continue
        if not c.online:
            excluded["offline"] += 1
        elif c.load_level in NOT_A_STOP:
            excluded["blocked"] += 1
        elif not c.prices:
            excluded["no_price"] += 1
        elif c.guns <= 0 or c.power_kw <= 0:
            excluded["no_gun"] += 1
        else:
            usable.append(c)
    usable.sort(key=lambda c: (corridor.access[c.key].k_in, corridor.access[c.key].k_out, c.key))
    for c in usable:
        a = corridor.access[c.key]
        nodes.append(_Node(len(nodes), c, a.k_in, a.k_out,
                           _profile_wh(car, a.in_len, a.in_time), sum(a.in_time), sum(a.in_len),
                           _profile_wh(car, a.out_len, a.out_time), sum(a.out_time), sum(a.out_len)))
    last = n_pts - 1
    dest = _Node(len(nodes), None, last, last)
    nodes.append(dest)
    k_in_sorted = [nd.k_in for nd in nodes]
    vot = req.value_of_time_fen_per_h / 3600.0
    min_any = min(req.min_stop_soc, req.min_arrival_soc)
    nodes[0].labels.append(_Label(0, req.soc_now, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, None, None, None))

    def leg(i: _Node, j: _Node) -> tuple[float, float, float]:
        wh = i.out_wh + cum_wh[j.k_in] - cum_wh[i.k_out] + j.in_wh
        s = i.out_s + cum_s[j.k_in] - cum_s[i.k_out] + j.in_s
        m = i.out_m + cum_m[j.k_in] - cum_m[i.k_out] + j.in_m
        return wh, s, m

    # A lower bound of what is left from a node: the driving to the end at free-flow speed (no
    # charging, no money). A label whose objective plus it cannot beat the best arrival found
    # so far is dropped (the A*-style part of the search).
    def rest(nd: _Node) -> float:
        return (nd.out_s + cum_s[last] - cum_s[nd.k_out]) * vot

    best_obj = math.inf
    for i in nodes[:-1]:
        if not i.labels:
            continue
        i.labels = [lb for lb in _pareto(i.labels) if lb.obj + rest(i) < best_obj]
        first_j = max(i.index + 1, bisect.bisect_left(k_in_sorted, i.k_out, lo=i.index + 1))
        for lab in i.labels:
            options = _options(i, lab, car, req)
            top = max(d for d, _ in options) if options else lab.soc
            budget = (top - min_any) * cap + EPS
            for j in nodes[first_j:]:
                if j.k_in < i.k_out:
                    continue
                if cum_wh[j.k_in] - cum_wh[i.k_out] + i.out_wh > budget:
                    break  # every node after j is further along the route
                wh, s, m = leg(i, j)
                need = req.min_arrival_soc if j is dest else req.min_stop_soc
                d_req = need + wh / cap + EPS  # a just-enough charge stops a hair above the need
                chosen = [(d, info) for d, info in options if d >= d_req - 2 * EPS]
                if i.cand is not None and lab.soc < d_req <= req.max_charge_soc + EPS \
                        and all(abs(d - d_req) > 0.002 for d, _ in chosen):
                    exact = _charge(i, lab, min(d_req, req.max_charge_soc + EPS), car, req)
                    if exact is not None:
                        chosen.append(exact)
                for d, info in chosen:
                    arrive = d - wh / cap
                    if arrive < need - EPS:
                        continue  # never plan an arrival below its minimum
                    t = lab.t + info["wait_s"] + info["charge_s"] + s
                    cost = lab.cost + info["cost_fen"]
                    obj = t * vot + cost
                    if j is dest:
                        best_obj = min(best_obj, obj)
                    elif obj + rest(j) >= best_obj:
                        continue
                    j.labels.append(_Label(j.index, arrive, t, cost, obj, lab.drive_s + s,
                                           lab.charge_s + info["charge_s"], lab.wait_s + info["wait_s"],
                                           lab.dist_m + m, lab, info, {"distance_m": m, "drive_s": s, "energy_wh": wh}))
    if not dest.labels:
        return _why(nodes, cum_m, cum_wh, car, req, excluded)
    best = min(dest.labels, key=lambda lb: (lb.obj, lb.t))
    return _result(best, nodes, corridor, req, excluded)


def _options(i: _Node, lab: _Label, car: Car, req: Request) -> list[tuple[float, dict[str, Any]]]:
    """Departure SoCs at node i with what each costs: at the origin only the SoC now; at a
    station the fixed choices (80 %, the most allowed). Just-enough charges are added per leg."""
    if i.cand is None:
        return [(lab.soc, {"wait_s": 0.0, "charge_s": 0.0, "cost_fen": 0})]
    out = []
    for d in (TAPER_SOC, req.max_charge_soc):
        if d > lab.soc + 0.002 and d <= req.max_charge_soc + EPS and all(abs(d - x) > 1e-6 for x, _ in out):
            got = _charge(i, lab, d, car, req)
            if got is not None:
                out.append(got)
    return out


def _charge(i: _Node, lab: _Label, d: float, car: Car, req: Request) -> tuple[float, dict[str, Any]] | None:
    c = i.cand
    assert c is not None
    kw = effective_kw(c, req)
    if kw <= 0:
        return None
    wait = expected_wait_s(c, lab.t, req)
    start_ms = req.depart_ms + int(round((lab.t + wait) * 1000))
    window = c.price_at(start_ms)
    if window is None or not math.isfinite(wait):
        return None
    secs = car.charge_seconds(lab.soc, d, kw, c.dc)
    battery_wh = (d - lab.soc) * car.battery_wh
    grid_wh = int(math.ceil(battery_wh / car.charge_efficiency - 1e-3))  # EPS must not add a Wh
    return d, {"wait_s": wait, "charge_s": secs, "cost_fen": fen_e4(grid_wh, window.price_e4),
               "energy_wh": grid_wh, "soc_from": lab.soc, "soc_to": d, "power_kw": kw, "price": window}


def _pareto(labels: list[_Label]) -> list[_Label]:
    """Those no other label beats on both arrival SoC and objective (SoC compared by whole
    percent: a label 0.4 % fuller but dearer is not worth its search)."""
    labels.sort(key=lambda lb: (-round(lb.soc, 2), lb.obj))
    out: list[_Label] = []
    best = math.inf
    for lb in labels:
        if lb.obj < best - 1e-9:
            out.append(lb)
            best = lb.obj
    return out


def _pct(soc: float) -> float:
    return round(soc * 100, 1)


def _why(nodes: list[_Node], cum_m: list[float], cum_wh: list[float], car: Car, req: Request,
         excluded: dict[str, int]) -> Infeasible:
    """The furthest node any label reached, how far the car gets from there, and what lies
    beyond (the next usable station or the destination)."""
    reached = [nd for nd in nodes[:-1] if nd.labels]
    far = max(reached, key=lambda nd: (cum_m[nd.k_out], nd.index))
    soc = req.soc_now if far.cand is None else req.max_charge_soc
    if far.cand is not None:
        soc = max(soc, max(lb.soc for lb in far.labels))
    budget = (soc - min(req.min_stop_soc, req.min_arrival_soc)) * car.battery_wh - far.out_wh
    target = cum_wh[far.k_out] + max(budget, 0.0)
    k = max(bisect.bisect_right(cum_wh, target) - 1, far.k_out)
    reach = cum_m[k]
    if k + 1 < len(cum_wh) and cum_wh[k + 1] > cum_wh[k]:
        # part of the next piece, at its energy per metre
        reach += (target - cum_wh[k]) / (cum_wh[k + 1] - cum_wh[k]) * (cum_m[k + 1] - cum_m[k])
    range_m = max(0.0, far.out_m + reach - cum_m[far.k_out]) if budget > 0 else 0.0
    nxt = next((nd for nd in nodes[far.index + 1:] if nd.k_in >= far.k_out and nd.k_in > k), nodes[-1])
    next_m = far.out_m + cum_m[nxt.k_in] - cum_m[far.k_out] + nxt.in_m
    return Infeasible("out_of_range", {
        "from": far.cand.name if far.cand else None, "soc_pct": _pct(soc), "range_km": round(range_m / 1000, 1),
        "next": nxt.cand.name if nxt.cand else None, "next_km": round(next_m / 1000, 1),
        "excluded": {k2: v for k2, v in excluded.items() if v}})


def _result(best: _Label, nodes: list[_Node], corridor: Corridor, req: Request,
            excluded: dict[str, int]) -> dict[str, Any]:
    chain: list[_Label] = []
    lb: _Label | None = best
    while lb is not None:
        chain.append(lb)
        lb = lb.parent
    chain.reverse()
    stops, legs = [], []
    for prev, cur in zip(chain, chain[1:], strict=False):
        info = cur.stop or {}
        legs.append({**(cur.leg or {}), "arrival_soc_pct": _pct(cur.soc)})
        pn = nodes[prev.node]
        if pn.cand is not None:
            c = pn.cand
            w: PriceWindow = info["price"]
            arrive_ms = req.depart_ms + int(round(prev.t * 1000))
            stops.append({
                "sid": c.key, "name": c.name, "lat": c.lat, "lng": c.lng,
                "arrive_at": arrive_ms, "arrival_soc_pct": _pct(prev.soc),
                "wait_s": round(info["wait_s"]), "charge_s": round(info["charge_s"]),
                "depart_soc_pct": _pct(info["soc_to"]), "energy_wh": info["energy_wh"],
                "power_kw": round(info["power_kw"], 1), "dc": c.dc, "load_level": c.load_level,
                "price": {"period": w.period, "price_e4": w.price_e4, "from": w.start_ms, "until": w.end_ms},
                "cost_fen": info["cost_fen"], "reservable": c.reservable,
                "guns": c.guns, "guns_busy": c.busy,
                "busy_at_arrival_pct": _pct(busy_at_arrival(c, prev.t, req)),
                "occupancy_source": "typical" if c.occupancy is None else "history",
                "detour_m": round(corridor.access[c.key].detour_m),
                "depart_at": arrive_ms + int(round((info["wait_s"] + info["charge_s"]) * 1000)),
            })
    for leg in legs:
        leg["distance_m"] = round(leg["distance_m"])
        leg["drive_s"] = round(leg["drive_s"])
        leg["energy_wh"] = round(leg["energy_wh"])
    return {
        "feasible": True, "stops": stops, "legs": legs,
        "distance_m": round(best.dist_m), "drive_s": round(best.drive_s), "charge_s": round(best.charge_s),
        "wait_s": round(best.wait_s), "total_s": round(best.t), "cost_fen": best.cost,
        "depart_at": req.depart_ms, "arrive_at": req.depart_ms + int(round(best.t * 1000)),
        "arrival_soc_pct": _pct(best.soc), "excluded": {k: v for k, v in excluded.items() if v},
        "candidates": len(nodes) - 2,
    }


def arrivals(result: dict[str, Any]) -> list[float]:
    """Every planned arrival SoC in percent (stops, then the destination): for the invariant."""
    return [s["arrival_soc_pct"] for s in result["stops"]] + [result["arrival_soc_pct"]]
