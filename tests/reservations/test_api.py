"""The reservation routes of the driver API through the real broker (the cloud publishes
`reserve`, `cancel_reservation` and `start` on Mosquitto, a fake gateway answers, ingest stores
the replies), every answer checked against docs/api/cloud.openapi.yaml; and the start of an
order on a reserved gun: a stranger refused with a free gun suggested, the holder's start
accepted and the reservation used."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cloud.models import now_ms
from cloud.reservations import service
from cloud.tariffs import service as tariffs
from jcproto import ErrorCode, Reply
from tests.charging.conftest import Live
from tests.charging.support import (
    ORIGIN,
    TARIFF,
    balances,
    gun_entry,
    new_driver,
    seed,
    seed_station,
    telemetry,
    top_up,
)
from tests.charging.test_openapi_walk import Walk
from tests.cloud.support import wait_for
from tests.docs.openapi_support import load_spec, operations
from tests.drivers_api.support import BASE

SPEC = load_spec("cloud")
MINE = {(p, m) for p, m in operations(SPEC) if SPEC["paths"][p][m].get("x-walked-in", "") == Path(__file__).resolve().relative_to(Path(__file__).resolve().parents[2]).as_posix()}
LAT, LNG = ORIGIN
SESSION = "0f8b3c2e-1111-4222-8333-444455556666"
RULE = {"enabled": True, "max_minutes": 30, "fee_mode": "fixed", "fee_fen": 200, "refund_on_start": True,
        "refund_on_cancel": False}
URL = f"{BASE}/reservations"


def _ok(cmd: dict[str, Any]) -> Reply:
    if cmd["type"] == "start":
        return Reply.success(cmd["id"], {"session_id": SESSION, "power_cap_w": 60000})
    return Reply.success(cmd["id"], {"reservation_id": cmd.get("reservation_id")})


def _online(live: Live, sid: str, guns: dict[str, str]) -> Any:
    seed(live.app, seed_station, sid, LAT, LNG, guns=guns, state_row=False)
    seed(live.app, lambda s: service.set_rule(s, sid, RULE, actor="test"))
    st = live.station(sid)
    st.publish_raw("telemetry", json.dumps(telemetry([gun_entry(g, state) for g, state in guns.items()])), qos=1)
    client = live.app.test_client()
    h, _ = new_driver(client, live.wechat, "looker")
    wait_for(lambda: client.get(f"{BASE}/stations/{sid}", headers=h).json["online"], 10, f"{sid} online")
    return st


def test_every_reservation_operation_as_documented(live: Live) -> None:
    app = live.app
    x = Walk(app.test_client())
    st = _online(live, "S1", {"P1-1": "plugged", "P1-2": "available", "P1-3": "plugged"})
    st.answer = _ok
    h, did = new_driver(x.client, live.wechat, "holder")
    h2, did2 = new_driver(x.client, live.wechat, "stranger")
    body = {"gun_code": "S1-P1-1", "minutes": 20}

    terms = x("GET", f"{URL}/terms?gun_code=S1-P1-1&minutes=20", 200, headers=h)
    assert terms["enabled"] and terms["fee_fen"] == 200 and terms["max_minutes"] == 30
    x("GET", f"{URL}/terms", 400, "invalid_request", headers=h)
    x("GET", f"{URL}/terms?gun_code=NOPE-1", 404, "gun_not_found", headers=h)
    x("POST", URL, 402, "insufficient_balance", json=body, headers=h)
    top_up(app, did, 1000)
    top_up(app, did2, 10_000)
    x("POST", URL, 400, "reservation_too_long", json={**body, "minutes": 31}, headers=h)
    x("POST", URL, 400, "invalid_request", json={**body, "minutes": "20"}, headers=h)
    x("POST", URL, 400, "invalid_request", json={**body, "x": 1}, headers=h)
    x("POST", URL, 404, "gun_not_found", json={**body, "gun_code": "NOPE-1"}, headers=h)
    x("POST", URL, 401, "unauthorized", json=body)
    st.answer = lambda cmd: Reply.failure(cmd["id"], ErrorCode.BUSY, {})
    x("POST", URL, 409, "gun_busy", json=body, headers=h)
    st.answer = lambda cmd: Reply.failure(cmd["id"], ErrorCode.INVALID, {})
    x("POST", URL, 502, "reserve_failed", json=body, headers=h)
    assert balances(app, did).cash == 1000  # refused twice, the fee back each time
    st.answer = _ok
    r = x("POST", URL, 201, json=body, headers=h)
    rid = r["reservation_id"]
    assert r["state"] == "active" and r["fee_state"] == "held" and r["until"] - r["created_at"] == 20 * 60_000
    cmd = st.commands[-1]
    assert cmd["type"] == "reserve" and cmd["gun"] == "P1-1" and cmd["reservation_id"] == rid
    assert balances(app, did).held == 200
    x("POST", URL, 409, "reservation_exists", json={**body, "gun_code": "S1-P1-3"}, headers=h)
    x("POST", URL, 409, "reserved", json=body, headers=h2)
    x("GET", f"{URL}/current", 200, headers=h)
    x("GET", f"{URL}/current", 404, "not_found", headers=h2)
    x("GET", f"{URL}/{rid}", 200, headers=h)
    x("GET", f"{URL}/{rid}", 404, "not_found", headers=h2)
    x("GET", f"{URL}?limit=5", 200, headers=h)
    x("GET", f"{URL}?limit=500", 400, "invalid_request", headers=h)
    x("POST", f"{URL}/{rid}/cancel", 404, "not_found", headers=h2)

    # a stranger's start on the reserved gun: refused, the same station's free gun suggested
    orders = f"{BASE}/orders"
    start = {"gun_code": "S1-P1-1", "limit": {"mode": "amount", "value": 800}}
    refused = x.client.post(orders, json=start, headers={**h2, "Accept-Language": "en"})
    assert refused.status_code == 409 and refused.json["error"]["code"] == "reserved"
    assert "reserved for another driver" in refused.json["error"]["message"]
    assert refused.json["error"]["nearest_gun"] == {"sid": "S1", "gun": "P1-2", "code": "S1-P1-2",
                                                    "name": "P1-2 号枪"}
    x.check(path=orders, method="POST", status=409, content_type=refused.content_type, body=refused.json)
    # that gun a private pile closed to others: the next free gun is suggested instead
    from cloud.db import db
    from cloud.sharing.models import SharedPile

    with app.app_context(), db.transaction() as s:
        s.add(SharedPile(sid="S1", gun="P1-2", owner_id="someone-else", commission_bp=1000, is_open=False))
    again = x.client.post(orders, json=start, headers=h2).json["error"]
    assert again["code"] == "reserved" and again["nearest_gun"]["gun"] == "P1-3", again
    with app.app_context(), db.transaction() as s:
        s.query(SharedPile).filter_by(sid="S1", gun="P1-2").delete()
    assert not [c for c in st.commands if c["type"] == "start"]  # nothing reached the station
    assert balances(app, did2).held == 0

    # the holder's start goes out and uses the reservation (fee back: refund_on_start)
    started = x.client.post(orders, json=start, headers=h)
    assert started.status_code == 201, started.json
    assert [c for c in st.commands if c["type"] == "start"][-1]["gun"] == "P1-1"
    used = x("GET", f"{URL}/{rid}", 200, headers=h)
    assert used["state"] == "used" and used["order_id"] == started.json["order_id"] and used["fee_state"] == "refunded"
    b = balances(app, did)
    assert (b.cash, b.held) == (200, 800)  # the order's hold of 800; the fee of 200 is back
    x("POST", f"{URL}/{rid}/cancel", 409, "reservation_not_active", headers=h)

    # cancel (the fee kept: refund_on_cancel false)
    r2 = x("POST", URL, 201, json={**body, "gun_code": "S1-P1-3"}, headers=h2)
    x("POST", f"{URL}/{r2['reservation_id']}/cancel", 400, "invalid_request", json={"x": 1}, headers=h2)
    done = x("POST", f"{URL}/{r2['reservation_id']}/cancel", 200, headers=h2)
    assert done["state"] == "cancelled" and done["fee_state"] == "kept"
    assert st.commands[-1]["type"] == "cancel_reservation"
    assert balances(app, did2).cash == 10_000 - 200
    x("GET", URL, 200, headers=h2)

    unseen = {(p, m) for p, m in MINE if not any((p, m, c) in x.check.seen for c in range(200, 300))}
    assert MINE and not unseen, sorted(unseen)
    assert now_ms() > 0


def test_the_tariffs_reservation_fee_is_quoted_and_held_as_documented(live: Live) -> None:
    app = live.app
    x = Walk(app.test_client())
    st = _online(live, "S9", {"P1-1": "available"})
    st.answer = _ok

    def priced(s: Any) -> str:  # 0.5000 CNY a reservation + 0.0125 CNY a minute, from the station's rules
        v = tariffs.create(s, {**TARIFF, "reservation": {"fee_e4": 5_000, "per_minute_e4": 125}}, code="rsvapi")
        tariffs.assign(s, "S9", v.tariff_id, effective_from=now_ms() - 1000)
        service.set_rule(s, "S9", {**RULE, "fee_mode": "tariff", "max_minutes": 60}, actor="test")
        return v.tariff_id

    tid = seed(app, priced)
    h, did = new_driver(x.client, live.wechat, "tariff-fee")
    top_up(app, did, 1000)
    terms = x("GET", f"{URL}/terms?gun_code=S9-P1-1&minutes=30", 200, headers=h)
    assert (terms["fee_fen"], terms["fee_mode"], terms["fee_tariff_id"]) == (88, "tariff", tid)  # 87.5 fen, half up
    assert terms["tariff_fee"] == {"fee_e4": 5_000, "per_minute_e4": 125}
    assert x("GET", f"{URL}/terms?gun_code=S9-P1-1", 200, headers=h)["fee_fen"] == 125  # the longest: 60 minutes
    r = x("POST", URL, 201, json={"gun_code": "S9-P1-1", "minutes": 30}, headers=h)
    assert (r["fee_fen"], r["fee_state"], r["fee_tariff_id"]) == (88, "held", tid)
    assert balances(app, did).held == 88
    done = x("POST", f"{URL}/{r['reservation_id']}/cancel", 200, headers=h)
    assert done["fee_state"] == "kept" and balances(app, did).cash == 1000 - 88  # refund_on_cancel false
