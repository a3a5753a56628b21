"""Starting and stopping through the real broker: the cloud publishes `start`/`stop` on
Mosquitto, a fake gateway (subscribed as the station, tests/cloud/support.FakeStation)
answers, ingest stores the reply and the station's session records, and the driver follows
the order over HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from cloud.db import db
from cloud.ledger.models import LedgerTransaction
from cloud.models import ChargingSession, StationState, now_ms
from cloud.orders import service as orders
from cloud.orders.machine import Event
from cloud.orders.models import Order
from jcproto import ErrorCode, Reply
from tests.charging.conftest import Live
from tests.charging.support import (
    ORDERS,
    ORIGIN,
    balances,
    gun_entry,
    new_driver,
    seed,
    seed_station,
    telemetry,
    top_up,
)
from tests.cloud.support import FakeStation, wait_for
from tests.drivers_api.support import error_code

LAT, LNG = ORIGIN
SESSION = "0f8b3c2e-1111-4222-8333-444455556666"


def _online(live: Live, sid: str, guns: dict[str, str], level: str = "normal") -> FakeStation:
    """Station `sid` as its gateway makes it: archive and tariff by the operator, then online
    and its telemetry through the broker and ingest."""
    seed(live.app, seed_station, sid, LAT, LNG, guns=guns, state_row=False)
    st = live.station(sid)
    st.publish_raw("telemetry", json.dumps(telemetry([gun_entry(g, s) for g, s in guns.items()], level)), qos=1)

    def ready() -> bool:
        with live.app.app_context():
            row = db.session.get(StationState, sid)
            db.session.rollback()
            return bool(row and row.online and row.telemetry)

    wait_for(ready, 10, f"{sid} online with telemetry")
    return st


def _accept(cmd: dict[str, Any]) -> Reply:
    if cmd["type"] == "start":
        return Reply.success(cmd["id"], {"session_id": SESSION, "power_cap_w": 60000})
    return Reply.success(cmd["id"])


def test_start_accepted_follow_stop_settle_rate(live: Live) -> None:
    app, client = live.app, live.app.test_client()
    st = _online(live, "S1", {"P1-1": "plugged"})
    st.answer = _accept
    h, did = new_driver(client, live.wechat, "alice")
    top_up(app, did, 10_000)
    r = client.post(ORDERS, json={"gun_code": "S1-P1-1", "limit": {"mode": "amount", "value": 2000}}, headers=h)
    assert r.status_code == 201, r.json
    order = r.json
    oid = order["order_id"]
    assert order["state"] == "starting" and order["hold_fen"] == 2000 and order["pay"] == "wallet"
    assert order["gun_code"] == "S1-P1-1" and order["limit"] == {"mode": "amount", "value": 2000}
    [cmd] = st.commands
    assert cmd["type"] == "start" and cmd["order_id"] == oid and cmd["gun"] == "P1-1"
    assert cmd["limit"] == {"mode": "amount", "value": 2000} and cmd["tariff"]["id"] == "std-v1"
    assert cmd["tariff"]["idle"]["fen_per_step"] == 50
    b = balances(app, did)
    assert (b.cash, b.held) == (8000, 2000)
    with app.app_context():
        assert db.session.get(Order, oid).session_id == SESSION

    # the gateway's records of the session (ingest merges them into `sessions`)
    t0 = now_ms()
    st.send([
        {"seq": 1, "type": "session_started", "ts": t0, "session_id": SESSION, "gun": "P1-1", "order_id": oid,
         "auth": "remote", "energy_start_wh": 1000, "limit": {"mode": "amount", "value": 2000},
         "power_cap_w": 60000},
        {"seq": 2, "type": "session_progress", "ts": t0 + 60_000, "session_id": SESSION, "energy_wh": 1900,
         "power_w": 30000, "voltage_v": 400.0, "current_a": 75.0, "soc": 55, "cost_fen": 108},
    ])  # fmt: skip
    st.drain(10)

    def merged() -> bool:
        with app.app_context():
            row = db.session.get(ChargingSession, SESSION)
            db.session.rollback()
            return bool(row and row.progress_seq == 2)

    wait_for(merged, 10, "the session merged")
    with app.app_context(), db.transaction() as s:
        # what billing's ingest hook does with session_started (cloud/billing, not this package)
        orders.apply(s, oid, Event.SESSION_STARTED, session_id=SESSION)
    st.publish_raw("telemetry", json.dumps(telemetry([gun_entry("P1-1", "charging", session_id=SESSION,
                                                                  power_w=31_000, soc=56)])), qos=1)
    wait_for(lambda: client.get(f"{ORDERS}/{oid}", headers=h).json["power_w"] == 31_000, 10, "live power")
    live_view = client.get(f"{ORDERS}/{oid}", headers=h).json
    assert live_view["state"] == "charging" and live_view["energy_wh"] == 900 and live_view["cost_fen"] == 108
    assert live_view["soc"] == 56 and live_view["started_at"] == t0 and live_view["duration_s"] >= 0
    assert client.get(f"{ORDERS}/current", headers=h).json["order_id"] == oid
    r = client.post(f"{ORDERS}/{oid}/rating", json={"stars": 5}, headers=h)
    assert r.status_code == 409 and error_code(r) == "order_not_settled"

    r = client.post(f"{ORDERS}/{oid}/stop", headers=h)
    assert r.status_code == 202, r.json
    assert st.commands[-1]["type"] == "stop" and st.commands[-1]["session_id"] == SESSION

    with app.app_context(), db.transaction() as s:
        # what billing does once the end and the release are in
        orders.apply(s, oid, Event.SESSION_ENDED)
        orders.apply(s, oid, Event.BILLED, lines=[
            orders.Line("electricity", 45, "valley", 1000), orders.Line("service", 20, "valley", 1000),
            orders.Line("idle", 50)])
    done = client.get(f"{ORDERS}/{oid}", headers=h).json
    assert done["state"] == "settled" and done["total_fen"] == 115 and done["cost_fen"] == 115
    assert done["idle_fen"] == 50 and done["debt_fen"] == 0 and done["power_w"] == 0
    assert [ln["kind"] for ln in done["lines"]] == ["electricity", "service", "idle"]
    assert client.get(f"{ORDERS}/current", headers=h).status_code == 404
    b = balances(app, did)
    assert (b.cash, b.held) == (10_000 - 115, 0)
    r = client.post(f"{ORDERS}/{oid}/rating", json={"stars": 4, "comment": "  很方便  "}, headers=h)
    assert r.status_code == 200 and r.json == {"stars": 4, "comment": "很方便"}
    r = client.post(f"{ORDERS}/{oid}/rating", json={"stars": 1}, headers=h)
    assert r.status_code == 409 and error_code(r) == "already_rated"
    listed = client.get(ORDERS, headers=h).json["orders"]
    assert [o["order_id"] for o in listed] == [oid] and listed[0]["rating"]["stars"] == 4
    r = client.post(f"{ORDERS}/{oid}/stop", headers=h)
    assert r.status_code == 409 and error_code(r) == "order_not_running"


REFUSALS = [(ErrorCode.BLOCKED_BY_LOAD, "blocked_by_load", True), (ErrorCode.NOT_PLUGGED, "not_plugged", False),
            (ErrorCode.BUSY, "gun_busy", True), (ErrorCode.FAULTED, "gun_faulted", True),
            (ErrorCode.UNAVAILABLE, "gun_faulted", True), (ErrorCode.RESERVED, "reserved", True),
            (ErrorCode.UNKNOWN_GUN, "gun_not_found", False), (ErrorCode.EXPIRED, "start_failed", False),
            (ErrorCode.INVALID, "start_failed", False)]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the PostgreSQL paths are the same: time
def test_start_refused_per_reply_code_with_nearest(live: Live) -> None:
    app, client = live.app, live.app.test_client()
    st = _online(live, "S1", {"P1-1": "plugged"})
    seed(app, seed_station, "NEAR", LAT + 0.01, LNG, guns={"P1-1": "plugged"})
    h, did = new_driver(client, live.wechat, "bob")
    top_up(app, did, 10_000)
    for error, code, nearest in REFUSALS:
        st.answer = lambda cmd, e=error: Reply.failure(cmd["id"], e, {"gun": cmd.get("gun")})
        r = client.post(ORDERS, json={"gun_code": "S1-P1-1", "limit": {"mode": "full"}},
                        headers={**h, "Accept-Language": "en"})
        assert error_code(r) == code, (error, r.json)
        assert r.headers["Content-Language"] == "en" and r.json["error"]["message"].isascii()
        if nearest:
            assert r.json["error"]["nearest"]["sid"] == "NEAR", error
            assert r.json["error"]["nearest"]["guns_free"] == 1
        else:
            assert "nearest" not in r.json["error"]
    with app.app_context():
        states = db.session.scalars(select(Order.state)).all()
    assert states == ["failed"] * len(REFUSALS)  # each refused order failed, its hold returned
    b = balances(app, did)
    assert (b.cash, b.held) == (10_000, 0)
    r = client.post(ORDERS, json={"gun_code": "S1-P1-1", "limit": {"mode": "full"}}, headers=h)
    assert r.status_code == 502 and "未产生费用" in r.json["error"]["message"]  # zh-CN by default


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the PostgreSQL paths are the same: time
def test_start_unanswered_stays_starting_then_follows_its_command(live: Live) -> None:
    import threading

    from cloud.charging import service

    app, client = live.app, live.app.test_client()
    app.config["CHARGING_START_TIMEOUT_S"] = 0.5
    st = _online(live, "S1", {"P1-1": "plugged", "P1-2": "plugged"})  # receives, never answers
    h, did = new_driver(client, live.wechat, "carol")
    top_up(app, did, 10_000)
    r = client.post(ORDERS, json={"gun_code": "S1-P1-1", "limit": {"mode": "energy", "value": 20_000}}, headers=h)
    assert r.status_code == 201 and r.json["state"] == "starting", r.json
    oid = r.json["order_id"]
    assert r.json["hold_fen"] == 10_000  # the default hold, all the balance here
    assert client.get(f"{ORDERS}/current", headers=h).json["order_id"] == oid
    again = client.post(ORDERS, json={"gun_code": "S1-P1-2", "limit": {"mode": "full"}}, headers=h)
    assert again.status_code == 409 and error_code(again) == "order_in_progress"
    # still within the grace after expiry: nothing is decided
    assert client.get(f"{ORDERS}/{oid}", headers=h).json["state"] == "starting"
    with app.app_context(), db.transaction() as s:
        service.follow_start(s, oid, now=now_ms() + service.START_GRACE_MS + 5_000)
    assert client.get(f"{ORDERS}/{oid}", headers=h).json["state"] == "failed"
    assert client.get(f"{ORDERS}/current", headers=h).status_code == 404
    assert balances(app, did).held == 0

    # a refusal that arrives after the sender stopped waiting still fails the order
    def late(cmd: dict[str, Any]) -> None:
        reply = Reply.failure(cmd["id"], ErrorCode.BUSY, {})
        threading.Timer(1.0, lambda: st.publish_raw("reply", reply.to_json())).start()

    st.answer = late
    r = client.post(ORDERS, json={"gun_code": "S1-P1-2", "limit": {"mode": "full"}}, headers=h)
    assert r.status_code == 201 and r.json["state"] == "starting"
    wait_for(lambda: client.get(f"{ORDERS}/{r.json['order_id']}", headers=h).json["state"] == "failed", 10,
             "the late refusal applied")
    assert balances(app, did).held == 0


@pytest.mark.postgres
def test_concurrent_starts_of_one_driver_make_one_order_and_one_hold(pg_url: str, tmp_path, monkeypatch,  # type: ignore[no-untyped-def]
                                                                      wechat, mqtt) -> None:
    import threading

    from tests.charging.conftest import make_app

    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = make_app(tmp_path, pg_url, wechat, mqtt)
    live = Live(app, mqtt, wechat)
    try:
        st = _online(live, "S1", {"P1-1": "plugged", "P1-2": "plugged"})
        st.answer = _accept
        client = app.test_client()
        h, did = new_driver(client, wechat, "dave")
        top_up(app, did, 10_000)
        results: list[Any] = []
        barrier = threading.Barrier(4)

        def start(gun: str) -> None:
            c = app.test_client()
            barrier.wait()
            r = c.post(ORDERS, json={"gun_code": f"S1-{gun}", "limit": {"mode": "amount", "value": 3000}}, headers=h)
            results.append((r.status_code, (r.get_json() or {}).get("error", {}).get("code")))

        threads = [threading.Thread(target=start, args=(g,)) for g in ("P1-1", "P1-2", "P1-1", "P1-2")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(results) == [(201, None)] + [(409, "order_in_progress")] * 3, results
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(Order)) == 1
            holds = db.session.scalar(select(func.count()).select_from(LedgerTransaction)
                                      .where(LedgerTransaction.kind == "hold"))
            assert holds == 1
        b = balances(app, did)
        assert (b.cash, b.held) == (7000, 3000)
    finally:
        live.close()
        with app.app_context():
            db.engine.dispose()




@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the PostgreSQL paths are the same: time
def test_prepaid_start_is_sent_once_the_payment_commits(live: Live) -> None:
    """Pay per session: the wallet, crediting a paid "session" payment, calls
    PAID_HANDLERS["session"] in its transaction; the hold is placed there and the start goes
    out only after that transaction commits."""
    from cloud.charging import service
    from cloud.charging.models import ChargingPrepay
    from cloud.ledger import service as ledger

    app, client = live.app, live.app.test_client()
    st = _online(live, "S1", {"P1-1": "plugged"})
    st.answer = _accept
    h, did = new_driver(client, live.wechat, "erin")
    with app.app_context(), db.transaction() as s:
        # what POST /orders with pay=wechat stores while the driver pays
        s.add(ChargingPrepay(order_id="o-pre-1", driver_id=str(did), sid="S1", gun="P1-1", limit_mode="amount",
                             limit_value=3000, hold_fen=3000, amount_fen=3000, state="pending", created_at=now_ms()))
    with app.test_request_context(), db.transaction() as s:
        ledger.top_up(s, str(did), 3000, key="test-wx-paid:o-pre-1")  # the wallet credits the payment
        service.on_prepay_paid(s, "o-pre-1")
        assert st.commands == []  # nothing leaves before the commit
    for t in service.STARTS:
        t.join(10)
    [cmd] = st.commands
    assert cmd["type"] == "start" and cmd["order_id"] == "o-pre-1" and cmd["limit"]["value"] == 3000
    view = client.get(f"{ORDERS}/o-pre-1", headers=h).json
    assert view["state"] == "starting" and view["pay"] == "wechat" and view["hold_fen"] == 3000
    b = balances(app, did)
    assert (b.cash, b.held) == (0, 3000)
    with app.test_request_context(), db.transaction() as s:
        service.on_prepay_paid(s, "o-pre-1")  # the callback delivered twice: nothing more
    assert len(st.commands) == 1 and balances(app, did).held == 3000


def _unanswered_start(live: Live, name: str) -> tuple[Any, Any, Any, dict[str, str], str]:
    """A new driver's order on S1's P1-1 whose start the station receives and never answers:
    the order stays `starting`, with no session known. (app, client, station, headers, order id)"""
    app, client = live.app, live.app.test_client()
    app.config["CHARGING_START_TIMEOUT_S"] = 0.5
    st = _online(live, "S1", {"P1-1": "plugged"})  # receives the start, never answers it
    h, did = new_driver(client, live.wechat, name)
    top_up(app, did, 10_000)
    r = client.post(ORDERS, json={"gun_code": "S1-P1-1", "limit": {"mode": "full"}}, headers=h)
    assert r.status_code == 201 and r.json["state"] == "starting", r.json
    return app, client, st, h, r.json["order_id"]


def test_a_stop_by_gun_never_ends_another_drivers_session(live: Live) -> None:
    """A start the station has not answered leaves the order `starting` with no session: its
    stop goes out by gun. When the gun's latest telemetry shows a session the cloud knows
    is not this order's (another driver's, a local card's), that stop would end it: refused
    (409 order_not_running), nothing sent. A session it knows is this order's is stopped by
    its id."""
    app, client, st, h, oid = _unanswered_start(live, "dora")
    # meanwhile a card session runs on that gun (the station refused our start, unheard yet)
    theirs = "7a1b2c3d-1111-4222-8333-444455556666"
    st.send([{"seq": 1, "type": "session_started", "ts": now_ms(), "session_id": theirs, "gun": "P1-1",
              "order_id": None, "auth": "card:0412AB", "energy_start_wh": 1000, "limit": {"mode": "full", "value": 0},
              "power_cap_w": 60000}])
    st.publish_raw("telemetry", json.dumps(telemetry([gun_entry("P1-1", "charging", session_id=theirs,
                                                                  power_w=30_000)])), qos=1)

    def seen() -> bool:
        with app.app_context():
            row = db.session.get(ChargingSession, theirs)
            tel = db.session.get(StationState, "S1").telemetry
            db.session.rollback()
            return row is not None and tel["guns"][0].get("session_id") == theirs

    wait_for(seen, 10, "the card session and its telemetry")
    sent = len(st.commands)
    r = client.post(f"{ORDERS}/{oid}/stop", headers=h)
    assert r.status_code == 409 and error_code(r) == "order_not_running", r.json
    assert [c["type"] for c in st.commands[sent:]] == []  # no stop went out


def test_a_stop_by_gun_names_its_order(live: Live) -> None:
    """When nothing the cloud holds says which session on the gun is the order's (its start
    unanswered, no telemetry of a session, or one with no record yet), the stop goes out by
    gun with the order named: the gateway then stops only that order's session
    (edge/sync/commands.py; tests/gateway/test_sync_e2e.py)."""
    app, client, st, h, oid = _unanswered_start(live, "ewan")
    sent = len(st.commands)
    client.post(f"{ORDERS}/{oid}/stop", headers=h)
    [stop] = st.commands[sent:]
    assert (stop["type"], stop["gun"], stop["order_id"]) == ("stop", "P1-1", oid)
    assert "session_id" not in stop
