""""Charge until departure" from the driver's side, through the real broker and ingest (the
harness of test_start.py): the start carries the departure to the station, the station's
records say how its plan stands, and the order shows it; a departure without an energy
limit, in the past or too far ahead is refused before anything is sent."""

from __future__ import annotations

from typing import Any

from cloud.db import db
from cloud.models import ChargingSession, now_ms
from cloud.orders.models import Order
from jcproto import Reply, parse_command
from tests.charging.conftest import Live
from tests.charging.support import ORDERS, new_driver, top_up
from tests.charging.test_start import _online
from tests.cloud.support import wait_for
from tests.drivers_api.support import error_code

SESSION = "0f8b3c2e-2222-4222-8333-444455556666"


def _accept(cmd: dict[str, Any]) -> Reply:
    parse_command(cmd)  # the command the gateway receives is valid under the protocol's schema
    return Reply.success(cmd["id"], {"session_id": SESSION, "power_cap_w": 7000})


def test_an_orderly_start_carries_the_departure_and_the_order_shows_the_plan(live: Live) -> None:
    app, client = live.app, live.app.test_client()
    st = _online(live, "S7", {"P1-1": "plugged"})
    st.answer = _accept
    h, did = new_driver(client, live.wechat, "olga")
    top_up(app, did, 10_000)
    departure = now_ms() + 10 * 3_600_000
    body = {"gun_code": "S7-P1-1", "limit": {"mode": "energy", "value": 30_000}, "departure_at": departure}
    r = client.post(ORDERS, json=body, headers=h)
    assert r.status_code == 201, r.json
    oid = r.json["order_id"]
    assert r.json["departure_at"] == departure and r.json["orderly"] is None
    [cmd] = st.commands
    assert cmd["departure_at"] == departure and cmd["limit"] == {"mode": "energy", "value": 30_000}
    with app.app_context():
        assert db.session.get(Order, oid).departure_at == departure

    t0 = now_ms()
    plan = {"departure_at": departure, "energy_wh": 30_000, "status": "on_track", "expected_wh": 30_000,
            "finish_at": departure - 3_600_000}
    # the first record is shaped as before what the car takes was added; the next carries it
    short = {**plan, "status": "cannot_meet", "expected_wh": 24_000, "finish_at": departure, "acceptance_w": 3_600}
    st.send([
        {"seq": 1, "type": "session_started", "ts": t0, "session_id": SESSION, "gun": "P1-1", "order_id": oid,
         "auth": "remote", "energy_start_wh": 1000, "limit": {"mode": "energy", "value": 30_000},
         "power_cap_w": 7000, "orderly": plan},
        {"seq": 2, "type": "session_progress", "ts": t0 + 60_000, "session_id": SESSION, "energy_wh": 1000,
         "power_w": 0, "voltage_v": None, "current_a": None, "soc": None, "cost_fen": 0, "orderly": short},
    ])  # fmt: skip
    st.drain(10)

    def merged() -> bool:
        with app.app_context():
            row = db.session.get(ChargingSession, SESSION)
            db.session.rollback()
            return bool(row and row.progress_seq == 2)

    wait_for(merged, 30, "the session merged")
    view = client.get(f"{ORDERS}/{oid}", headers=h).json
    # the newest record's plan: 30 kWh cannot be had by the departure, 24 kWh will
    assert view["orderly"] == {"status": "cannot_meet", "energy_wh": 30_000, "expected_wh": 24_000,
                               "finish_at": departure, "departure_at": departure, "acceptance_w": 3_600}
    # a progress record without a plan keeps the one stored
    st.send([{"seq": 3, "type": "session_progress", "ts": t0 + 120_000, "session_id": SESSION, "energy_wh": 1000,
              "power_w": 0, "voltage_v": None, "current_a": None, "soc": None, "cost_fen": 0}])
    st.drain(10)
    wait_for(lambda: client.get(f"{ORDERS}/{oid}", headers=h).json["orderly"] is not None, 30, "plan kept")
    assert client.get(f"{ORDERS}/current", headers=h).json["orderly"]["status"] == "cannot_meet"


def test_a_departure_needs_an_energy_limit_and_a_time_ahead(live: Live) -> None:
    app, client = live.app, live.app.test_client()
    st = _online(live, "S8", {"P1-1": "plugged"})
    st.answer = _accept
    h, did = new_driver(client, live.wechat, "piet")
    top_up(app, did, 10_000)
    ahead = now_ms() + 3_600_000
    for body in ({"limit": {"mode": "amount", "value": 2000}, "departure_at": ahead},
                 {"limit": {"mode": "energy", "value": 2000}, "departure_at": now_ms() - 1},
                 {"limit": {"mode": "energy", "value": 2000}, "departure_at": now_ms() + 30_000},  # < a minute
                 {"limit": {"mode": "energy", "value": 2000}, "departure_at": ahead + 8 * 24 * 3_600_000},
                 {"limit": {"mode": "energy", "value": 2000}, "departure_at": "07:30"},
                 {"limit": {"mode": "energy", "value": 2000}, "departure_at": True}):
        r = client.post(ORDERS, json={"gun_code": "S8-P1-1", **body}, headers=h)
        assert r.status_code == 400 and error_code(r) == "invalid_request", (body, r.json)
        assert r.json["error"]["field"] == "departure_at"
    assert st.commands == []


def test_a_plan_recorded_before_the_car_figure_shows_it_not_known() -> None:
    from cloud.charging.service import _orderly_view

    old = {
        "departure_at": 1,
        "energy_wh": 30_000,
        "status": "on_track",
        "expected_wh": 30_000,
        "finish_at": None,
    }
    assert _orderly_view(old) == {**old, "acceptance_w": None}
    assert _orderly_view({**old, "acceptance_w": 3_600})["acceptance_w"] == 3_600  # type: ignore[index]
