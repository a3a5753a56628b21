"""GET /api/v1/driver/recommendations end to end (app, migrated database on SQLite and
PostgreSQL, stations with telemetry and tariffs, a driver's orders and ratings), and the
number of queries the service makes, which must not grow with the stations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from cloud.charging.models import OrderRating
from cloud.db import db
from cloud.fakes.server import FakeServer
from cloud.fakes.wechat_login import FakeWechatLogin
from cloud.models import now_ms
from cloud.orders.models import Order
from cloud.recommend import service
from cloud.recommend.scorer import Situation
from tests.charging.conftest import make_app
from tests.charging.support import ORIGIN, new_driver, seed, seed_station, set_gun_state
from tests.drivers_api.support import APPID, BASE, SECRET, auth, error_code
from tests.support.databases import db_url  # noqa: F401  (fixture)

URL = f"{BASE}/recommendations"
LAT, LNG = ORIGIN


@pytest.fixture
def wechat() -> Iterator[FakeServer]:
    with FakeServer(login=FakeWechatLogin(APPID, SECRET)) as server:
        yield server


@pytest.fixture
def app(tmp_path: Path, wechat: FakeServer, db_url: str) -> Iterator[Flask]:  # noqa: F811
    app = make_app(tmp_path, db_url, wechat)
    yield app
    with app.app_context():
        db.engine.dispose()


def east(km: float) -> tuple[float, float]:
    return LAT, LNG + km / 95.2  # about 95.2 km per degree of longitude at 31.23°N


def orders_of(s: Session, driver: str, sid: str, n: int, stars: int | None = None, gun: str = "P1-1") -> None:
    for i in range(n):
        oid = f"o-{driver}-{sid}-{i}"
        s.add(Order(order_id=oid, driver_id=driver, sid=sid, gun=gun, limit_mode="full", limit_value=0,
                    hold_fen=1000, state="settled", total_fen=500, settled_at=now_ms()))
        s.flush()
        if stars is not None:
            s.add(OrderRating(order_id=oid, driver_id=driver, stars=stars))
    s.flush()


def world(s: Session, n_extra: int = 0) -> None:
    seed_station(s, "NEAR_BLOCKED", *east(0.5), name="近但满载", level="blocked")
    seed_station(s, "CAPPED", *east(1.0), name="限功率站", level="capped")
    seed_station(s, "OK", *east(1.0), name="正常站")
    seed_station(s, "FAV", *east(1.5), name="常去站")
    seed_station(s, "BUSY", *east(0.8), name="排队站", guns={"P1-1": "charging"})
    set_gun_state(s, "BUSY", "P1-1", "charging", session_id="3f1d0c52-7a8b-4c2e-9e61-0a5c3b2d1e4f",
                  power_w=30_000, soc=20)
    for i in range(n_extra):
        seed_station(s, f"X{i}", *east(3 + i * 0.2), name=f"远站{i}")


def get(client: FlaskClient, headers: dict[str, str], **params: Any) -> Any:
    return client.get(URL, query_string=params, headers=headers)


def test_ranked_with_reasons_in_the_drivers_language(app: Flask, wechat: FakeServer) -> None:
    seed(app, world)
    client = app.test_client()
    headers, did = new_driver(client, wechat, "rec-1")
    seed(app, orders_of, str(did), "FAV", 4, stars=5)
    seed(app, orders_of, "someone-else", "CAPPED", 2, stars=2)
    r = get(client, headers, lat=LAT, lng=LNG)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.headers["Content-Language"] == "zh-CN"
    recs = r.json["recommendations"]
    sids = [x["sid"] for x in recs]
    assert sids[-1] == "NEAR_BLOCKED" and not recs[-1]["available"]
    assert sids.index("OK") < sids.index("CAPPED")  # same place and price, half the power
    assert sids.index("FAV") < sids.index("CAPPED")
    by = {x["sid"]: x for x in recs}
    assert by["CAPPED"]["power_w"] == 30_000 and by["OK"]["power_w"] == 60_000
    assert by["CAPPED"]["reasons"][0]["text"] == "变压器繁忙：新启动的充电限功率 50%"
    assert by["NEAR_BLOCKED"]["reasons"][0]["key"] == "blocked"
    assert any(x["key"] == "visits" and x["params"] == {"n": 4} for x in by["FAV"]["reasons"])
    # the busy gun: 80 % of 60 kWh at 30 kW is about 96 min from now
    assert 90 * 60 < by["BUSY"]["wait_s"] < 97 * 60
    assert [x["rank"] for x in recs] == list(range(1, len(recs) + 1))
    assert set(by["OK"]["terms"]) == {"distance", "price", "wait", "power", "history", "rating"}
    assert by["OK"]["score"] == pytest.approx(sum(by["OK"]["terms"].values()), abs=0.5)

    en = get(client, auth(headers["Authorization"].split()[1], "en"), lat=LAT, lng=LNG)
    assert en.headers["Content-Language"] == "en"
    by_en = {x["sid"]: x for x in en.json["recommendations"]}
    assert by_en["CAPPED"]["reasons"][0]["text"] == "transformer busy: new sessions capped at 50 %"
    assert any(x["text"] == "you charged here 4 times" for x in by_en["FAV"]["reasons"])


def test_operator_weights_change_the_answer(app: Flask, wechat: FakeServer) -> None:
    seed(app, world)
    client = app.test_client()
    headers, did = new_driver(client, wechat, "rec-w")
    seed(app, orders_of, str(did), "FAV", 5, stars=5)
    first = get(client, headers, lat=LAT, lng=LNG).json["recommendations"][0]["sid"]
    assert first == "FAV"
    with app.app_context(), db.transaction() as s:
        service.set_weights(s, {"distance": 100, "price": 100, "wait": 100, "power": 100, "history": 0,
                                "rating": 0}, actor="admin")
    r = get(client, headers, lat=LAT, lng=LNG).json
    assert r["weights"]["history"] == 0 and r["weights"]["rating"] == 0  # its 5 stars count no more
    assert r["recommendations"][0]["sid"] == "OK"


def test_auth_and_validation(app: Flask, wechat: FakeServer) -> None:
    client = app.test_client()
    assert client.get(URL, query_string={"lat": LAT, "lng": LNG}).status_code == 401
    headers, _ = new_driver(client, wechat, "rec-v")
    for params, field in [({"lng": LNG}, "lat"), ({"lat": LAT}, "lng"), ({"lat": 91, "lng": LNG}, "lat"),
                          ({"lat": LAT, "lng": LNG, "radius_m": 50}, "radius_m"),
                          ({"lat": LAT, "lng": LNG, "limit": "x"}, "limit"),
                          ({"lat": LAT, "lng": LNG, "energy_kwh": "nan"}, "energy_kwh"),
                          ({"lat": LAT, "lng": LNG, "sort": "price"}, "sort")]:
        r = get(client, headers, **params)
        assert r.status_code == 400 and error_code(r) == "invalid_request", (params, r.get_data(as_text=True))
        assert r.json["error"]["field"] == field
    r = get(client, headers, lat=LAT, lng=LNG)
    assert r.status_code == 200 and r.json["recommendations"] == []


def test_energy_and_car_limit(app: Flask, wechat: FakeServer) -> None:
    seed(app, world)
    client = app.test_client()
    headers, _ = new_driver(client, wechat, "rec-e")
    r = get(client, headers, lat=LAT, lng=LNG, energy_kwh=10, max_power_kw=20)
    by = {x["sid"]: x for x in r.json["recommendations"]}
    assert r.json["energy_wh"] == 10_000
    assert by["OK"]["power_w"] == 20_000 and by["OK"]["charge_s"] == 1800


def count_queries(app: Flask, fn: Any) -> int:
    n = 0

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        nonlocal n
        if statement.lstrip().upper().startswith("SELECT"):  # not the transaction's own statements
            n += 1

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", seen)
        try:
            with db.transaction() as s:
                fn(s)
        finally:
            event.remove(db.engine, "before_cursor_execute", seen)
    return n


def test_query_count_does_not_grow_with_the_stations(app: Flask) -> None:
    settings = service.RecommendSettings()

    def ask(s: Session) -> None:
        out = service.recommend(s, settings, "d1", Situation(LAT, LNG, now_ms()), radius_m=20_000, limit=50)
        ask.n = len(out["recommendations"])  # type: ignore[attr-defined]

    seed(app, world)
    seed(app, orders_of, "d1", "FAV", 2, stars=4)
    few = count_queries(app, ask)
    n_few = ask.n  # type: ignore[attr-defined]
    seed(app, lambda s: [seed_station(s, f"Y{i}", *east(4 + i * 0.1)) for i in range(20)])
    seed(app, lambda s: [orders_of(s, "d1", f"Y{i}", 1, stars=3) for i in range(20)])
    many = count_queries(app, ask)
    assert ask.n == n_few + 20  # type: ignore[attr-defined]
    assert many == few == 12  # docs/recommend.md lists them


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_answer_as_documented(app: Flask, wechat: FakeServer) -> None:
    """The operation walked through its answers, each checked against docs/api/cloud.openapi.yaml."""
    from tests.docs.openapi_support import ResponseChecker, load_spec

    check = ResponseChecker(load_spec("cloud"))
    seed(app, world)
    client = app.test_client()
    headers, did = new_driver(client, wechat, "rec-walk")
    seed(app, orders_of, str(did), "FAV", 2, stars=4)
    for params, h, status in [({"lat": LAT, "lng": LNG}, headers, 200),
                              ({"lat": LAT, "lng": LNG, "energy_kwh": 5, "limit": 2}, headers, 200),
                              ({"lat": 0, "lng": 0}, headers, 200), ({"lat": LAT}, headers, 400),
                              ({"lat": LAT, "lng": LNG}, {}, 401)]:
        r = client.get(URL, query_string=params, headers=h)
        assert r.status_code == status, r.get_data(as_text=True)
        check(path=URL, method="GET", status=status, content_type=r.content_type, body=r.get_json())
