"""docs/api/cloud.openapi.yaml's station and order routes against the app: every operation
marked `x-walked-in` this file is walked through, and every answer (errors included) is
checked against the document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from cloud.db import db
from cloud.fakes.server import FakeServer
from cloud.models import now_ms
from cloud.orders import service as orders
from cloud.orders.machine import Event
from jcproto import ErrorCode, Reply
from tests.charging.conftest import Live, make_app
from tests.charging.support import ORIGIN, new_driver, seed, seed_station, top_up
from tests.docs.openapi_support import ResponseChecker, load_spec, operations
from tests.drivers_api.support import BASE
from tests.support.broker import Broker

SPEC = load_spec("cloud")
MINE = {(p, m) for p, m in operations(SPEC) if SPEC["paths"][p][m].get("x-walked-in", "") == Path(__file__).resolve().relative_to(Path(__file__).resolve().parents[2]).as_posix()}
LAT, LNG = ORIGIN
SESSION = "0f8b3c2e-1111-4222-8333-444455556666"


class Walk:
    def __init__(self, client: FlaskClient) -> None:
        self.client, self.check = client, ResponseChecker(SPEC)

    def __call__(self, method: str, path: str, expect: int, code: str | None = None, **kw: Any) -> Any:
        resp = self.client.open(path, method=method, **kw)
        body = resp.get_json(silent=True)
        assert resp.status_code == expect, f"{method} {path}: {resp.status_code} {resp.data[:300]!r}"
        self.check(path=path.split("?")[0], method=method, status=resp.status_code, content_type=resp.content_type,
                   body=body)
        if expect >= 400:
            assert body["error"]["code"] == code, body
            assert resp.headers["Content-Language"] in ("zh-CN", "en")
        return body


def test_every_charging_operation_as_documented(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                wechat: FakeServer, mqtt: Broker) -> None:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'walk.sqlite'}", wechat, mqtt)
    live = Live(app, mqtt, wechat)
    try:
        _walk(live)
    finally:
        live.close()


def _walk(live: Live) -> None:
    from tests.cloud.support import wait_for

    app = live.app
    x = Walk(app.test_client())
    seed(app, seed_station, "S1", LAT, LNG, guns={"P1-1": "plugged", "P1-2": "plugged"}, state_row=False)
    seed(app, seed_station, "NEAR", LAT + 0.01, LNG, guns={"P1-1": "plugged"})
    h, did = new_driver(x.client, live.wechat, "walker")
    st = live.station("S1")
    st.publish_raw("telemetry", json.dumps({"v": 1, "ts": now_ms(), "transformer": None, "guns": [
        {"id": g, "state": "plugged", "power_w": 0, "limit_w": None, "energy_wh": 5, "session_id": None, "soc": None}
        for g in ("P1-1", "P1-2")]}), qos=1)
    wait_for(lambda: x.client.get(f"{BASE}/stations/S1", headers=h).json["guns_free"] == 2, 10, "S1 online")

    stations, orders_url = f"{BASE}/stations", f"{BASE}/orders"
    x("GET", f"{stations}?lat={LAT}&lng={LNG}&radius_m=5000&limit=10&free=1", 200, headers=h)
    x("GET", stations, 200, headers=h)
    x("GET", f"{stations}?lat=95&lng=0", 400, "invalid_request", headers=h)
    x("GET", stations, 401, "unauthorized")
    x("GET", f"{stations}/S1", 200, headers=h)
    x("GET", f"{stations}/NOPE", 404, "not_found", headers=h)
    x("GET", f"{BASE}/guns/S1-P1-1", 200, headers=h)
    x("GET", f"{BASE}/guns/NOPE-1", 404, "gun_not_found", headers=h)
    x("GET", f"{BASE}/guns/S1-P1-1", 401, "unauthorized")

    full = {"gun_code": "S1-P1-1", "limit": {"mode": "full"}}
    x("POST", orders_url, 402, "insufficient_balance", json=full, headers=h)
    top_up(app, did, 10_000)
    x("POST", orders_url, 400, "invalid_request", json={**full, "x": 1}, headers=h)
    x("POST", orders_url, 404, "gun_not_found", json={**full, "gun_code": "NOPE-1"}, headers=h)
    x("POST", orders_url, 413, "payload_too_large", json={**full, "gun_code": "x" * 20_000}, headers=h)
    x("POST", orders_url, 503, "payment_not_configured", json={**full, "pay": "wechat"}, headers=h)
    st.answer = lambda cmd: Reply.failure(cmd["id"], ErrorCode.BLOCKED_BY_LOAD, {})
    x("POST", orders_url, 409, "blocked_by_load", json=full, headers=h)
    st.answer = lambda cmd: Reply.failure(cmd["id"], ErrorCode.EXPIRED, {})
    x("POST", orders_url, 502, "start_failed", json=full, headers=h)
    x("POST", orders_url, 401, "unauthorized", json=full)
    st.answer = lambda cmd: Reply.success(cmd["id"], {"session_id": SESSION, "power_cap_w": 60000}
                                          if cmd["type"] == "start" else None)
    order = x("POST", orders_url, 201, json={**full, "limit": {"mode": "amount", "value": 3000}}, headers=h)
    oid = order["order_id"]
    x("POST", orders_url, 409, "order_in_progress", json=full, headers=h)
    x("GET", f"{orders_url}/current", 200, headers=h)
    x("GET", f"{orders_url}/{oid}", 200, headers=h)
    tag = x.client.get(f"{orders_url}/{oid}", headers=h).headers["ETag"]
    x("GET", f"{orders_url}/{oid}", 304, headers={**h, "If-None-Match": tag})
    x("GET", f"{orders_url}/o-none", 404, "not_found", headers={**h, "If-None-Match": tag})
    x("GET", f"{orders_url}?limit=5", 200, headers=h)
    x("GET", f"{orders_url}?limit=500", 400, "invalid_request", headers=h)
    x("POST", f"{orders_url}/{oid}/rating", 409, "order_not_settled", json={"stars": 5}, headers=h)
    x("POST", f"{orders_url}/{oid}/stop", 202, headers=h)
    st.answer = lambda cmd: Reply.failure(cmd["id"], ErrorCode.UNKNOWN_GUN, {})
    x("POST", f"{orders_url}/{oid}/stop", 502, "stop_failed", headers=h)
    x("POST", f"{orders_url}/{oid}/stop", 400, "invalid_request", json={"now": True}, headers=h)
    x("POST", f"{orders_url}/o-none/stop", 404, "not_found", headers=h)
    with app.app_context(), db.transaction() as s:
        orders.apply(s, oid, Event.SESSION_STARTED)
        orders.apply(s, oid, Event.SESSION_ENDED)
        orders.apply(s, oid, Event.BILLED, lines=[orders.Line("electricity", 60, "peak", 500),
                                                  orders.Line("service", 15, "peak", 500)])
    x("POST", f"{orders_url}/{oid}/stop", 409, "order_not_running", headers=h)
    x("GET", f"{orders_url}/current", 404, "not_found", headers=h)
    x("POST", f"{orders_url}/{oid}/rating", 400, "invalid_request", json={"stars": 9}, headers=h)
    x("POST", f"{orders_url}/{oid}/rating", 200, json={"stars": 5, "comment": " \n "}, headers=h)
    rated = x.client.get(f"{orders_url}/{oid}", headers=h).get_json()
    assert rated["rating"] == {"stars": 5, "comment": None}  # only blanks: no comment
    x("POST", f"{orders_url}/{oid}/rating", 409, "already_rated", json={"stars": 5}, headers=h)
    x("GET", f"{orders_url}/{oid}", 200, headers={**h, "If-None-Match": tag})  # rated and settled since
    tag = x.client.get(f"{orders_url}/{oid}", headers=h).headers["ETag"]
    x("GET", f"{orders_url}/{oid}", 304, headers={**h, "If-None-Match": tag})
    x("GET", orders_url, 200, headers=h)

    unseen = {(p, m) for p, m in MINE if not any((p, m, c) in x.check.seen for c in range(200, 300))}
    assert MINE and not unseen, sorted(unseen)
