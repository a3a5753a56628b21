"""What a start refuses before anything is sent (the station's last word, the tariff, the
balance, the payment password, one running order per driver), and hostile input: wrong types,
huge and negative numbers, unknown keys, other drivers' order ids. Never a 500."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from cloud.charging.models import ChargingPrepay
from cloud.db import db
from cloud.fakes.server import FakeServer
from cloud.orders import service as orders
from cloud.orders.machine import Event
from cloud.orders.models import Order
from cloud.tariffs.models import StationTariff
from tests.charging.support import (
    ORDERS,
    ORIGIN,
    balances,
    new_driver,
    seed,
    seed_station,
    set_gun_state,
    top_up,
)
from tests.drivers_api.support import BASE, error_code

LAT, LNG = ORIGIN
FULL = {"mode": "full", "value": 0}


def _start(client: FlaskClient, h: dict[str, str], code: str = "S1-P1-1", limit: object = FULL, **kw: object):  # type: ignore[no-untyped-def]
    return client.post(ORDERS, json={"gun_code": code, "limit": limit, **kw}, headers=h)


def test_refused_before_sending(app: Flask, client: FlaskClient, wechat: FakeServer) -> None:
    def city(s) -> None:  # type: ignore[no-untyped-def]
        seed_station(s, "S1", LAT, LNG, guns={"P1-1": "plugged"})
        seed_station(s, "NEAR", LAT + 0.01, LNG, guns={"P1-1": "plugged"})
        seed_station(s, "NOTARIFF", LAT + 0.5, LNG, guns={"P1-1": "plugged"}, tariff=False)

    seed(app, city)
    h, did = new_driver(client, wechat, "alice")
    r = _start(client, h)
    assert error_code(r) == "insufficient_balance" and r.status_code == 402  # below the minimum hold
    top_up(app, did, 1000)
    r = _start(client, h, limit={"mode": "amount", "value": 5000})
    assert error_code(r) == "insufficient_balance"
    assert error_code(_start(client, h, code="NOPE-0001")) == "gun_not_found"
    assert error_code(_start(client, h, code="NOTARIFF-P1-1")) == "tariff_missing"
    for state, code in (("available", "not_plugged"), ("charging", "gun_busy"), ("faulted", "gun_faulted"),
                        ("unavailable", "gun_faulted"), ("reserved", "reserved"), ("finishing", "gun_busy")):
        seed(app, set_gun_state, "S1", "P1-1", state)
        r = _start(client, h)
        assert error_code(r) == code, (state, r.json)
        if code in ("gun_busy", "gun_faulted"):
            assert r.json["error"]["nearest"]["sid"] == "NEAR"
    seed(app, set_gun_state, "S1", "P1-1", "plugged", session_id="0f8b3c2e-1111-4222-8333-444455556666")
    assert error_code(_start(client, h)) == "gun_busy"  # a session on the gun, whatever its state says
    seed(app, set_gun_state, "S1", "P1-1", "plugged")

    def blocked(s) -> None:  # type: ignore[no-untyped-def]
        from cloud.models import StationState

        st = s.get(StationState, "S1")
        st.telemetry = {**st.telemetry, "transformer": {**st.telemetry["transformer"], "level": "blocked"}}

    seed(app, blocked)
    r = _start(client, h)
    assert error_code(r) == "blocked_by_load" and r.json["error"]["nearest"]["sid"] == "NEAR"
    assert "负荷" in r.json["error"]["message"]

    def offline(s) -> None:  # type: ignore[no-untyped-def]
        from cloud.models import StationState

        s.get(StationState, "S1").online = False
        s.get(StationState, "NEAR").online = False

    seed(app, offline)
    r = _start(client, h)
    assert error_code(r) == "station_offline" and r.json["error"]["nearest"] is None  # none free nearby
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Order)) == 0
    assert balances(app, did).cash == 1000


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the PostgreSQL paths are the same: time
def test_payment_password_and_a_start_the_broker_never_took(app: Flask, client: FlaskClient,
                                                            wechat: FakeServer) -> None:
    app.config["CHARGING_START_TIMEOUT_S"] = 0.3  # no broker in this test: the publish fails
    seed(app, seed_station, "S1", LAT, LNG, guns={"P1-1": "plugged"})
    h, did = new_driver(client, wechat, "bob")
    top_up(app, did, 20_000)
    assert client.post(f"{BASE}/payment-password", json={"password": "135790"}, headers=h).status_code == 201
    g = client.get(f"{BASE}/guns/S1-P1-1", headers=h).json
    assert g["payment_password_set"] is True and g["payment_password_required_above_fen"] == 0
    assert error_code(_start(client, h)) == "payment_password_required"
    r = _start(client, h, payment_password="246801")
    assert error_code(r) == "payment_password_wrong" and r.json["error"]["attempts_left"] >= 1
    r = _start(client, h, payment_password="135790")
    assert r.status_code == 502 and error_code(r) == "start_failed", r.json
    with app.app_context():
        [o] = db.session.scalars(select(Order)).all()
        assert o.state == "failed" and o.hold_fen == 10_000
    b = balances(app, did)
    assert (b.cash, b.held) == (20_000, 0)
    app.config["CHARGING_PAYMENT_PASSWORD_ABOVE_FEN"] = 5000
    assert client.get(f"{BASE}/guns/S1-P1-1", headers=h).json["payment_password_required_above_fen"] == 5000
    r = _start(client, h, limit={"mode": "amount", "value": 3000})
    assert error_code(r) == "start_failed"  # small enough to need no password (and still no broker)


def test_pay_per_session_without_wechat_pay(app: Flask, client: FlaskClient, wechat: FakeServer) -> None:
    seed(app, seed_station, "S1", LAT, LNG, guns={"P1-1": "plugged"})
    h, did = new_driver(client, wechat, "carol")
    r = _start(client, h, limit={"mode": "amount", "value": 3000}, pay="wechat")
    assert r.status_code == 503 and error_code(r) == "payment_not_configured"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ChargingPrepay)) == 0

    # a prepaid start waiting for its payment shows as its own order (and to nobody else)
    def waiting(s) -> None:  # type: ignore[no-untyped-def]
        s.add(ChargingPrepay(order_id="o-wait-1", driver_id=str(did), sid="S1", gun="P1-1", limit_mode="amount",
                             limit_value=3000, hold_fen=3000, amount_fen=3000, state="pending", created_at=1))

    seed(app, waiting)
    view = client.get(f"{ORDERS}/o-wait-1", headers=h).json
    assert view["state"] == "created" and view["pay"] == "wechat" and view["gun_code"] == "S1-P1-1"
    other, _ = new_driver(client, wechat, "dave")
    assert error_code(client.get(f"{ORDERS}/o-wait-1", headers=other)) == "not_found"


HOSTILE_STARTS = [
    b"{", b"[]", b'"x"', b"null", b"{}", b'{"gun_code": "S1-P1-1"}', b'{"limit": {"mode": "full"}}',
    b'{"gun_code": "S1-P1-1", "limit": {"mode": "full"}, "extra": 1}',
    b'{"gun_code": 5, "limit": {"mode": "full"}}', b'{"gun_code": null, "limit": {"mode": "full"}}',
    b'{"gun_code": "", "limit": {"mode": "full"}}',
    ('{"gun_code": "' + "x" * 200 + '", "limit": {"mode": "full"}}').encode(),
    b'{"gun_code": "S1-P1-1", "limit": "full"}', b'{"gun_code": "S1-P1-1", "limit": {}}',
    b'{"gun_code": "S1-P1-1", "limit": {"mode": "speed", "value": 1}}',
    b'{"gun_code": "S1-P1-1", "limit": {"mode": "amount", "value": "3000"}}',
    b'{"gun_code": "S1-P1-1", "limit": {"mode": "amount", "value": true}}',
    b'{"gun_code": "S1-P1-1", "limit": {"mode": "amount", "value": -3000}}',
    b'{"gun_code": "S1-P1-1", "limit": {"mode": "amount", "value": 0}}',
    b'{"gun_code": "S1-P1-1", "limit": {"mode": "amount", "value": 30.5}}',
    b'{"gun_code": "S1-P1-1", "limit": {"mode": "amount", "value": 1e400}}',
    b'{"gun_code": "S1-P1-1", "limit": {"mode": "amount", "value": 100000000000000000000000000000}}',
    b'{"gun_code": "S1-P1-1", "limit": {"mode": "energy", "value": 99999999}}',
    b'{"gun_code": "S1-P1-1", "limit": {"mode": "time", "value": 5}}',
    b'{"gun_code": "S1-P1-1", "limit": {"mode": "full", "value": 7}}',
    b'{"gun_code": "S1-P1-1", "limit": {"mode": "full", "value": 0, "x": 1}}',
    b'{"gun_code": "S1-P1-1", "limit": {"mode": "full"}, "pay": "cash"}',
    b'{"gun_code": "S1-P1-1", "limit": {"mode": "full"}, "pay": null}',
    b'{"gun_code": "S1-P1-1", "limit": {"mode": "full"}, "payment_password": 135790}',
]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the PostgreSQL paths are the same: time
def test_hostile_inputs_get_a_clear_4xx(app: Flask, client: FlaskClient, wechat: FakeServer) -> None:
    seed(app, seed_station, "S1", LAT, LNG, guns={"P1-1": "plugged"})
    h, did = new_driver(client, wechat, "mallory")
    top_up(app, did, 10_000)
    for raw in HOSTILE_STARTS:
        r = client.post(ORDERS, data=raw, content_type="application/json", headers=h)
        assert r.status_code == 400 and error_code(r) == "invalid_request", (raw, r.status_code, r.json)
    r = client.post(ORDERS, data=b"gun_code=S1-P1-1", content_type="application/x-www-form-urlencoded", headers=h)
    assert r.status_code == 400
    r = client.post(ORDERS, data=b"x" * 20_000, content_type="application/json", headers=h)
    assert r.status_code == 413
    for qs in ("limit=0", "limit=abc", "limit=101", "before=-1", "before=1.5", "page=1", "limit=1&limit=2"):
        r = client.get(f"{ORDERS}?{qs}", headers=h)
        assert r.status_code == 400 and error_code(r) == "invalid_request", qs

    # Alice's order, as another driver sees it: exactly a missing one
    ha, alice = new_driver(client, wechat, "alice")
    top_up(app, alice, 10_000)

    def alices_order(s) -> str:  # type: ignore[no-untyped-def]
        tid = s.scalar(select(StationTariff.tariff_id))
        orders.create(s, order_id="o-alice-1", driver_id=str(alice), sid="S1", gun="P1-1", limit_mode="full",
                      limit_value=0, hold_fen=5000, tariff_id=tid)
        orders.apply(s, "o-alice-1", Event.START_SENT)
        return "o-alice-1"

    oid = seed(app, alices_order)
    assert client.get(f"{ORDERS}/{oid}", headers=ha).status_code == 200
    assert client.get(f"{ORDERS}/current", headers=ha).json["order_id"] == oid
    for method, path, body in (("GET", f"{ORDERS}/{oid}", None), ("POST", f"{ORDERS}/{oid}/stop", None),
                               ("POST", f"{ORDERS}/{oid}/rating", {"stars": 1}),
                               ("GET", f"{ORDERS}/o-missing", None), ("POST", f"{ORDERS}/o-missing/stop", None),
                               ("GET", f"{ORDERS}/{'z' * 300}", None)):
        r = client.open(path, method=method, json=body, headers=h)
        assert r.status_code == 404 and error_code(r) == "not_found", (method, path, r.json)
    assert client.get(ORDERS, headers=h).json == {"orders": []}
    assert client.get(f"{ORDERS}/current", headers=h).status_code == 404
    for body in ({"stars": 0}, {"stars": 6}, {"stars": "5"}, {"stars": True}, {"stars": 4.5}, {},
                 {"stars": 5, "comment": "x" * 501}, {"stars": 5, "comment": 7}, {"stars": 5, "x": 1}):
        r = client.post(f"{ORDERS}/{oid}/rating", json=body, headers=ha)
        assert r.status_code == 400 and error_code(r) == "invalid_request", (body, r.json)
    r = client.post(f"{ORDERS}/{oid}/stop", json={"force": True}, headers=ha)
    assert r.status_code == 400
    assert client.get(ORDERS).status_code == 401
    # the order started through nobody's broker is untouched by all that
    with app.app_context():
        assert db.session.get(Order, oid).state == "starting"
