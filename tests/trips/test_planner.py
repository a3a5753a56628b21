"""The planner on small hand-made roads whose right answer is computed by hand.

The road: a straight line of 15 pieces of exactly 10 km at 90 km/h (origin at node 0, the
destination at node 15); station A at node 5 (50 km), B at node 10 (100 km). The car: 20 kWh,
100 Wh/km at any speed, 50 kW guns below its 100 kW (no taper below 80 %), no charging loss.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.occupancy.forecast import Profile, slot_of
from cloud.trips import corridor as corridors
from cloud.trips.car import Car
from cloud.trips.graph import GraphBuilder, RoadGraph
from cloud.trips.planner import (
    Candidate,
    Infeasible,
    PriceWindow,
    Request,
    arrivals,
    expected_wait_s,
    plan,
)
from jcproto.tariff import fen_e4

LAT, LNG0, STEP = 30.0, 110.0, 0.1037
CAR = Car(battery_wh=20_000, consumption=((0, 100.0),), max_dc_kw=100.0, charge_efficiency=1.0)
T0 = 1_700_000_000_000


def line(n: int = 15) -> RoadGraph:
    b = GraphBuilder()
    for i in range(n + 1):
        b.add_node(LAT, LNG0 + i * STEP)
    for i in range(n):
        b.add_road(i, i + 1, 90.0, length_m=10_000.0)
    return b.build()


def at(i: int) -> tuple[float, float]:
    return LAT, LNG0 + i * STEP


def station(key: str, node: int, price_e4: int = 10_000, **kw: object) -> Candidate:
    base = {"power_kw": 50.0, "dc": True, "guns": 2, "busy": 0, "load_level": "normal", "online": True,
            "prices": (PriceWindow(T0 - 1, None, price_e4, "flat"),)}
    base.update(kw)
    return Candidate(key, key, *at(node), **base)  # type: ignore[arg-type]


def run(cands: list[Candidate], soc: float = 0.4, **kw: object) -> dict | Infeasible:
    g = line()
    cor = corridors.from_graph(g, at(0), at(15), {c.key: (c.lat, c.lng) for c in cands})
    req = {"soc_now": soc, "min_arrival_soc": 0.1, "min_stop_soc": 0.1, "depart_ms": T0, "typical_busy": 0.0}
    req.update(kw)
    return plan(cor, CAR, cands, Request(**req))  # type: ignore[arg-type]


def test_one_stop_charging_just_enough() -> None:
    # 40 % = 8 kWh; A at 50 km costs 5 kWh: arrive 15 %. A → destination is 100 km = 10 kWh:
    # leave A with 12 kWh (60 %), arrive at 10 %. 9 kWh at 50 kW = 648 s, at ¥1/kWh = 900 fen.
    # B (¥2) cannot be reached first (100 km needs 10 kWh, 6 usable).
    r = run([station("A", 5), station("B", 10, price_e4=20_000)])
    assert isinstance(r, dict)
    [stop] = r["stops"]
    assert stop["sid"] == "A" and stop["arrival_soc_pct"] == 15.0 and stop["depart_soc_pct"] == 60.0
    assert stop["charge_s"] == 648 and stop["wait_s"] == 0 and stop["cost_fen"] == 900
    assert stop["energy_wh"] == 9000
    assert stop["arrive_at"] == T0 + 2000 * 1000  # 50 km at 90 km/h
    assert r["drive_s"] == 6000 and r["charge_s"] == 648 and r["total_s"] == 6648
    assert r["cost_fen"] == 900 and r["arrival_soc_pct"] == 10.0 and r["distance_m"] == 150_000
    assert [leg["distance_m"] for leg in r["legs"]] == [50_000, 100_000]


def test_money_moves_the_stop_to_the_cheap_station() -> None:
    # A at ¥3, B at ¥0.5: charge 4 kWh at A (to 35 %, reach B at 10 %) = 1200 fen, then 5 kWh at
    # B (to 35 %, reach the end at 10 %) = 250 fen: 1450 fen against 2700 for A alone, the same
    # charging time (9 kWh at 50 kW either way).
    r = run([station("A", 5, price_e4=30_000), station("B", 10, price_e4=5_000)])
    assert isinstance(r, dict)
    assert [s["sid"] for s in r["stops"]] == ["A", "B"]
    assert [s["cost_fen"] for s in r["stops"]] == [1200, 250]
    assert [s["depart_soc_pct"] for s in r["stops"]] == [35.0, 35.0]
    assert r["stops"][1]["arrival_soc_pct"] == 10.0 and r["charge_s"] == 648


def test_a_capped_station_charges_at_its_share() -> None:
    # capped: 50 % of 50 kW; 9 kWh at 25 kW = 1296 s
    r = run([station("A", 5, load_level="capped")])
    assert isinstance(r, dict)
    assert r["stops"][0]["power_kw"] == 25.0 and r["stops"][0]["charge_s"] == 1296


def test_a_blocked_station_is_no_stop_and_the_reason_says_how_far_the_car_gets() -> None:
    # 40 % − 10 % = 6 kWh = 60 km from the origin; the next usable station, B, is 100 km away
    r = run([station("A", 5, load_level="blocked"), station("B", 10)])
    assert isinstance(r, Infeasible)
    assert r.code == "out_of_range"
    assert r.facts == {"from": None, "soc_pct": 40.0, "range_km": 60.0, "next": "B", "next_km": 100.0,
                       "excluded": {"blocked": 1}}


def test_out_of_range_from_the_last_reachable_station() -> None:
    # only A: full at A (100 % = 18 kWh usable) reaches 180 km; the destination is 100 km on:
    # feasible. Make the car need 2 kWh per 10 km: A → end needs 20 kWh > 18.
    heavy = Car(battery_wh=20_000, consumption=((0, 200.0),), max_dc_kw=100.0, charge_efficiency=1.0)
    g = line()
    cand = station("A", 5)
    cor = corridors.from_graph(g, at(0), at(15), {"A": at(5)})
    r = plan(cor, heavy, [cand], Request(soc_now=0.8, min_arrival_soc=0.1, min_stop_soc=0.1, depart_ms=T0))
    assert isinstance(r, Infeasible)
    assert r.facts["from"] == "A" and r.facts["soc_pct"] == 100.0
    assert r.facts["range_km"] == 90.0 and r.facts["next"] is None and r.facts["next_km"] == 100.0


def test_soc_below_the_minimum_is_said_first() -> None:
    r = run([station("A", 5)], soc=0.05)
    assert isinstance(r, Infeasible) and r.code == "soc_below_minimum"
    assert r.facts == {"soc_pct": 5.0, "min_pct": 10.0}


def test_the_price_is_the_one_in_force_on_arrival() -> None:
    # ¥1 until 1000 s after departure, ¥0.3 from then: the car reaches A at 2000 s
    prices = (PriceWindow(T0 - 1, T0 + 1_000_000, 10_000, "peak"), PriceWindow(T0 + 1_000_000, None, 3_000, "valley"))
    r = run([station("A", 5, prices=prices)])
    assert isinstance(r, dict)
    assert r["stops"][0]["price"]["period"] == "valley" and r["stops"][0]["cost_fen"] == 270


def test_a_busy_station_makes_the_driver_wait_and_a_reservation_does_not() -> None:
    busy = station("A", 5, busy=2, guns=2, reservable=False)
    r = run([busy], typical_busy=0.5)
    assert isinstance(r, dict)
    # both guns busy now; at 2000 s occupancy has relaxed by e^(−2000/1800) towards 50 %
    w = math.exp(-2000 / 1800)
    b = w * 1.0 + (1 - w) * 0.5
    assert r["stops"][0]["wait_s"] == round(b ** 2 * 2400 / 2)
    free = station("A", 5, busy=1, guns=2, reservable=True)
    r2 = run([free], typical_busy=0.5, reserve=True, reserve_ahead_s=3600.0)
    assert isinstance(r2, dict) and r2["stops"][0]["wait_s"] == 0
    assert expected_wait_s(free, 2000, Request(0.5, 0.1, 0.1, T0, reserve=True, reserve_ahead_s=1000)) > 0


def test_the_occupancy_forecast_at_arrival_moves_the_stop() -> None:
    """Two stations side by side at 50 km, both free now: A is usually 95 % busy at the hour
    the car arrives (2000 s after departure), B 5 %, and B is ¥0.10 dearer. The wait A's habit
    means costs more time than B's price costs money: the plan stops at B; alone, A is planned
    with the wait its forecast gives, and the stop says where its occupancy came from."""
    hour = slot_of(T0 + 2_000_000)
    full = Profile(tuple(0.95 if h == hour else 0.05 for h in range(168)), (4.0,) * 168)
    quiet = Profile((0.05,) * 168, (4.0,) * 168)
    a = station("A", 5, occupancy=full)
    b = station("B", 5, price_e4=11_000, occupancy=quiet)
    r = run([a, b])
    assert isinstance(r, dict) and [s["sid"] for s in r["stops"]] == ["B"]
    assert r["stops"][0]["occupancy_source"] == "history"
    r2 = run([a])
    assert isinstance(r2, dict)
    w = math.exp(-2000 / 1800)  # what is seen now (no gun busy) still counts this much
    share = (1 - w) * 0.95
    [stop] = r2["stops"]
    assert stop["wait_s"] == round(share ** 2 * 2400 / 2)
    assert stop["busy_at_arrival_pct"] == round(share * 100, 1) and stop["occupancy_source"] == "history"
    # no forecast: the typical share, said so
    r3 = run([station("A", 5)], typical_busy=0.5)
    assert isinstance(r3, dict) and r3["stops"][0]["occupancy_source"] == "typical"
    assert r3["stops"][0]["busy_at_arrival_pct"] == round((1 - w) * 50, 1)


def test_a_departure_hours_ahead_sees_none_of_the_occupancy_now() -> None:
    """Both guns busy now and a quiet forecast: leaving now the busy guns still count at an
    arrival 10 min after; leaving in three hours they count for nothing."""
    c = station("A", 5, busy=2, guns=2, occupancy=Profile((0.0,) * 168, (4.0,) * 168))
    now = Request(0.5, 0.1, 0.1, T0, now_ms=T0)
    ahead = Request(0.5, 0.1, 0.1, T0, now_ms=T0 - 3 * 3_600_000)
    assert expected_wait_s(c, 600, now) == pytest.approx(math.exp(-600 / 1800) ** 2 * 1200)
    assert expected_wait_s(c, 600, ahead) < 0.01


def test_known_session_ends_decide_near_arrivals() -> None:
    """Both guns busy now, the car there at 2000 s: a session expected to run for three hours
    keeps its gun busy at the arrival, one ending at 1000 s frees its gun (which then is busy
    only with the forecast's chance, here none); without the ends, occupancy now fades."""
    one_long = station("A", 5, busy=2, guns=2, busy_until=(T0 + 1_000_000, T0 + 3 * 3_600_000))
    both_short = station("A", 5, busy=2, guns=2, busy_until=(T0 + 500_000, T0 + 1_000_000))
    unknown = station("A", 5, busy=2, guns=2)
    waits = []
    for c in (one_long, both_short, unknown):
        r = run([c])
        assert isinstance(r, dict)
        waits.append(r["stops"][0]["wait_s"])
    w = math.exp(-2000 / 1800)
    assert waits == [round(0.5 ** 2 * 1200), 0, round(w ** 2 * 1200)]
    # with a forecast the freed gun may be taken again: 0.5 + 0.5 x (1 - w) x 0.8 busy
    r = run([station("A", 5, busy=2, guns=2, busy_until=one_long.busy_until,
                     occupancy=Profile((0.8,) * 168, (4.0,) * 168))])
    assert isinstance(r, dict)
    assert r["stops"][0]["busy_at_arrival_pct"] == round((0.5 + 0.5 * (1 - w) * 0.8) * 100, 1)


def test_no_stop_when_the_battery_suffices() -> None:
    r = run([station("A", 5)], soc=0.9)  # 16 kWh usable ≥ 15 needed
    assert isinstance(r, dict) and r["stops"] == [] and r["arrival_soc_pct"] == 15.0 and r["cost_fen"] == 0


@settings(max_examples=60, deadline=None)
@given(soc=st.integers(5, 100), min_stop=st.integers(0, 40), min_arr=st.integers(0, 40),
       nodes=st.lists(st.integers(1, 14), max_size=6, unique=True),
       prices=st.lists(st.integers(1_000, 40_000), min_size=6, max_size=6),
       powers=st.lists(st.sampled_from([7.0, 30.0, 60.0, 120.0]), min_size=6, max_size=6),
       levels=st.lists(st.sampled_from(["normal", "capped", "blocked", None]), min_size=6, max_size=6),
       wh_per_km=st.sampled_from([90.0, 150.0, 250.0]), max_charge=st.integers(50, 100))
def test_no_planned_arrival_is_below_its_minimum(soc: int, min_stop: int, min_arr: int, nodes: list[int],
                                                 prices: list[int], powers: list[float], levels: list[str | None],
                                                 wh_per_km: float, max_charge: int) -> None:
    if max_charge <= max(min_stop, min_arr):
        return
    car = Car(battery_wh=20_000, consumption=((0, wh_per_km),), max_dc_kw=100.0)
    cands = [station(f"S{n}", n, price_e4=prices[i], power_kw=powers[i], load_level=levels[i])
             for i, n in enumerate(nodes)]
    cor = corridors.from_graph(line(), at(0), at(15), {c.key: (c.lat, c.lng) for c in cands})
    r = plan(cor, car, cands, Request(soc / 100, min_arr / 100, min_stop / 100, T0, max_charge_soc=max_charge / 100))
    if isinstance(r, Infeasible):
        assert r.code in ("out_of_range", "soc_below_minimum")
        return
    got = arrivals(r)
    assert all(a >= min_stop for a in got[:-1]) and got[-1] >= min_arr
    # the legs add up: every stop leaves at most at the allowed maximum, and each arrival is
    # the departure SoC less the leg's energy
    depart = soc / 100
    for leg, s in zip(r["legs"], r["stops"] + [None], strict=True):
        arrive = depart - leg["energy_wh"] / 20_000
        assert abs(arrive * 100 - leg["arrival_soc_pct"]) < 0.11
        if s is not None:
            assert s["depart_soc_pct"] <= max_charge + 0.05
            depart = s["depart_soc_pct"] / 100


def test_a_station_behind_the_route_is_reached_by_its_detour() -> None:
    # a spur: station C 3 km off node 5 by its own road (both ways): A's role taken by C with
    # 6 km more driving (0.6 kWh): arrive 15 % − 1.5 % = 13.5 %, leave at 60 % + 1.5 % = 61.5 %
    b = GraphBuilder()
    for i in range(16):
        b.add_node(LAT, LNG0 + i * STEP)
    for i in range(15):
        b.add_road(i, i + 1, 90.0, length_m=10_000.0)
    c = b.add_node(LAT + 0.027, LNG0 + 5 * STEP)
    b.add_road(5, c, 90.0, length_m=3_000.0)
    g = b.build()
    cand = Candidate("C", "C", LAT + 0.027, LNG0 + 5 * STEP, 50.0, True, 1, 0, "normal", True,
                     (PriceWindow(T0 - 1, None, 10_000, "flat"),))
    cor = corridors.from_graph(g, at(0), at(15), {"C": (cand.lat, cand.lng)})
    assert cor.access["C"].detour_m == pytest.approx(6_000.0)
    r = plan(cor, CAR, [cand], Request(0.4, 0.1, 0.1, T0, typical_busy=0.0))
    assert isinstance(r, dict)
    s = r["stops"][0]
    assert s["arrival_soc_pct"] == 13.5 and s["depart_soc_pct"] == 61.5 and s["detour_m"] == 6000
    assert r["distance_m"] == 156_000


def _brute(stations: list[tuple[int, Candidate]], car: Car, req: Request) -> float:
    """The best objective by trying every sequence of stops on the line (each stop: charge just
    enough for the next leg, to 80 % or to the most allowed), written apart from the planner."""
    cap, vot = car.battery_wh, req.value_of_time_fen_per_h / 3600
    wh_km = car.consumption[0][1]
    stops = sorted(stations)
    best = math.inf

    def go(pos: int, soc: float, t: float, cost: int, rest: list[tuple[int, Candidate]]) -> None:
        nonlocal best
        e = (150 - pos) * wh_km
        if soc - e / cap >= req.min_arrival_soc - 1e-12:
            best = min(best, (t + (150 - pos) * 40) * vot + cost)
        for k, (node, c) in enumerate(rest):
            km = node * 10 - pos
            e = km * wh_km
            arrive = soc - e / cap
            if arrive < req.min_stop_soc - 1e-12:
                break
            t_at = t + km * 40  # 90 km/h: 40 s per km
            kw = c.power_kw * (req.capped_power_share if c.load_level == "capped" else 1.0)
            if kw <= 0 or c.load_level == "blocked":
                continue
            wait = expected_wait_s(c, t_at, req)
            price = c.price_at(req.depart_ms + int(round((t_at + wait) * 1000)))
            assert price is not None
            nxt = [(n2, c2) for n2, c2 in rest[k + 1:]]
            targets = [n2 * 10 for n2, _ in nxt] + [150]
            for tgt in targets:
                need = (req.min_stop_soc if tgt < 150 else req.min_arrival_soc) + (tgt - node * 10) * wh_km / cap
                for d in {need + 1e-9, 0.8, req.max_charge_soc}:
                    if d < need or d <= arrive + 0.002 or d > req.max_charge_soc + 1e-9:
                        continue
                    secs = car.charge_seconds(arrive, d, kw, c.dc)
                    grid = int(math.ceil((d - arrive) * cap / car.charge_efficiency - 1e-3))
                    go(node * 10, d, t_at + wait + secs, cost + fen_e4(grid, price.price_e4), nxt)

    go(0, req.soc_now, 0.0, 0, stops)
    return best


@settings(max_examples=40, deadline=None)
@given(soc=st.integers(20, 60), nodes=st.lists(st.integers(1, 14), min_size=1, max_size=5, unique=True),
       prices=st.lists(st.integers(2_000, 30_000), min_size=5, max_size=5),
       powers=st.lists(st.sampled_from([30.0, 60.0, 120.0]), min_size=5, max_size=5),
       busy=st.lists(st.integers(0, 2), min_size=5, max_size=5))
def test_the_planner_matches_trying_every_sequence_of_stops(soc: int, nodes: list[int], prices: list[int],
                                                            powers: list[float], busy: list[int]) -> None:
    car = Car(battery_wh=20_000, consumption=((0, 100.0),), max_dc_kw=100.0)
    cands = [(n, station(f"S{n}", n, price_e4=prices[i], power_kw=powers[i], busy=busy[i])) for i, n in enumerate(nodes)]
    req = Request(soc / 100, 0.1, 0.1, T0)
    cor = corridors.from_graph(line(), at(0), at(15), {c.key: (c.lat, c.lng) for _, c in cands})
    r = plan(cor, car, [c for _, c in cands], req)
    best = _brute(cands, car, req)
    if isinstance(r, Infeasible):
        assert best == math.inf
        return
    got = r["total_s"] * req.value_of_time_fen_per_h / 3600 + r["cost_fen"]
    # the planner prunes labels by whole percent of SoC: within 2 % of the exhaustive optimum,
    # and never better than it (the brute force sees every sequence the planner can choose)
    assert best - 1.0 <= got <= best * 1.02 + 1.0


def test_the_range_in_the_reason_counts_part_of_a_road_piece() -> None:
    # 32.5 % − 10 % = 4.5 kWh = 45 km: half way along the 40-50 km piece
    r = run([station("A", 5, load_level="blocked"), station("B", 10)], soc=0.325)
    assert isinstance(r, Infeasible) and r.facts["range_km"] == 45.0
