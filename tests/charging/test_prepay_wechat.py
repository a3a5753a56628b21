"""Pay per session through the real pieces: POST /orders with pay=wechat makes the payment
(wallet.create_prepay, the real WeChat Pay client against the fake); the fake's signed
payment notification credits it and runs the handler the charging package registered
(PAID_HANDLERS["session"] = charging.on_prepay_paid: no test registers its own), which
holds the amount and sends the start; the station's signed records settle the order through
ingest and billing, and what the session did not spend goes back to WeChat, its refund
confirmed by the fake's refund callback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from cloud.charging import service as charging
from cloud.db import db
from cloud.fakes.keys import FakeKeys
from cloud.fakes.server import FakeServer
from cloud.jobs.context import JobContext
from cloud.jobs.wallet import refund_job
from cloud.ledger import service as ledger
from cloud.models import StationState, now_ms
from cloud.pki.registry import record_issued
from cloud.tariffs import service as tariffs
from cloud.wallet import service as wallet
from jcproto import Reply
from tests.billing.edgesim import simulate
from tests.charging.conftest import Live, make_app
from tests.charging.support import (
    ORDERS,
    ORIGIN,
    balances,
    gun_entry,
    seed,
    seed_station,
    telemetry,
)
from tests.cloud.support import wait_for
from tests.support.broker import Broker
from tests.wallet.support import BASE, AppServer, auth, login, verify_ledger

SID, GUN, CODE = "S1", "P1-1", "S1-P1-1"


@pytest.fixture
def paying(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mqtt: Broker) -> Iterator[tuple[Live, FakeServer]]:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    keys = FakeKeys()
    server = AppServer().start()
    with FakeServer.for_keys(keys, retry_scale=0.002, notify_origin=server.url) as fake:
        settings = keys.settings(keys.write(tmp_path / "keys"), fake.url)
        app = make_app(tmp_path, f"sqlite:///{tmp_path / 'cloud.sqlite'}", fake, mqtt, **settings)
        server.app = app
        live = Live(app, mqtt, fake)
        try:
            yield live, fake
        finally:
            live.close()
            server.close()
            with app.app_context():
                db.engine.dispose()


@pytest.mark.parametrize("bonus", [0, 2000])
def test_prepaid_session_starts_on_payment_and_its_rest_is_refunded(paying: tuple[Live, FakeServer],
                                                                    bonus: int) -> None:
    """With bonus credit in the wallet too (`bonus`): the session is paid from its own
    prepayment, never from the bonus, which would leave the prepayment's cash behind,
    refundable: bonus credit turned into a WeChat refund."""
    live, fake = paying
    assert fake.pay is not None
    assert wallet.PAID_HANDLERS["session"] is charging.on_prepay_paid  # the charging package's own
    app, client = live.app, live.app.test_client()
    seed(app, seed_station, SID, *ORIGIN, guns={GUN: "plugged"}, state_row=False)
    st = live.station(SID)
    seed(app, lambda s: record_issued(s, live.broker.station(SID).identity.cert, "station"))
    st.publish_raw("telemetry", json.dumps(telemetry([gun_entry(GUN, "plugged")])), qos=1)
    wait_for(lambda: _online(live), 10, "S1 online with telemetry")
    session_id = "5e55a0b1-2222-4333-8444-555566667777"
    st.answer = lambda cmd: Reply.success(cmd["id"], {"session_id": session_id, "power_cap_w": 60_000}) \
        if cmd["type"] == "start" else Reply.success(cmd["id"])

    token, did = login(client, fake, "prepay-driver")
    h = auth(token)
    if bonus:
        seed(app, lambda s: ledger.grant_bonus(s, str(did), bonus, "test:bonus"))
    r = client.post(ORDERS, json={"gun_code": CODE, "limit": {"mode": "amount", "value": 3000}, "pay": "wechat"},
                    headers=h)
    assert r.status_code == 201, r.json
    oid, params = r.json["order_id"], r.json["pay_params"]
    assert fake.pay.check_pay_params(params).total == 3000
    assert client.get(f"{ORDERS}/current", headers=h).status_code == 404  # nothing runs before the payment
    [paid] = [o for o in fake.pay.orders.values() if params["package"] == f"prepay_id={o.prepay_id}"]
    fake.pay.pay(paid.out_trade_no)  # the payer confirms; the fake's notification goes to the cloud

    [cmd] = wait_for(lambda: [c for c in st.commands if c["type"] == "start"], 10, "the start sent")
    for t in list(charging.STARTS):
        t.join(10)
    assert cmd["order_id"] == oid and cmd["limit"] == {"mode": "amount", "value": 3000}
    view = client.get(f"{ORDERS}/{oid}", headers=h).json
    assert (view["state"], view["pay"], view["hold_fen"]) == ("starting", "wechat", 3000)
    b = balances(app, did)
    assert (b.cash, b.bonus, b.held) == (0, bonus, 3000)

    # the station's signed records: 22 kW for 30 min, then the car leaves; ingest and billing settle
    with app.app_context():
        tariff = tariffs.in_force(db.session, SID, now_ms())
        db.session.rollback()
    key = serialization.load_pem_private_key(live.broker.station(SID).identity.key_pem, password=None)
    sim = simulate(tariff, start_ts=now_ms() - 3_600_000, start_wh=5_000, polls=[(10_000, 22_000)] * 180,
                   gun=GUN, order_id=oid, key=key, session_id=session_id,  # type: ignore[arg-type]
                   release_after_ms=60_000)
    assert 0 < sim.cost_fen < 3000
    st.send(sim.records)
    wait_for(lambda: client.get(f"{ORDERS}/{oid}", headers=h).json["state"] == "settled", 20, "settled")
    done = client.get(f"{ORDERS}/{oid}", headers=h).json
    assert done["total_fen"] == sim.cost_fen and done["refund_fen"] == 3000 - sim.cost_fen, done

    # the rest back to WeChat: sent at settlement where the app's provider is at hand, else by
    # the wallet's refund job; the fake's refund callback confirms it
    with app.app_context():
        refund_job(JobContext(engine=db.engine, holder="test", config=app.config, extensions=app.extensions))

    def refunded() -> list[dict[str, Any]]:
        rows = client.get(f"{BASE}/wallet/refunds", headers=h).json["refunds"]
        return rows if rows and rows[0]["state"] == "success" else []

    [row] = wait_for(refunded, 10, "the refund's callback")
    assert (row["order_id"], row["amount_fen"]) == (oid, 3000 - sim.cost_fen)
    assert [rf.amount for rf in fake.pay.refunds.values()] == [3000 - sim.cost_fen]
    assert balances(app, did) == ledger.Balances(cash=0, bonus=bonus, held=0, debt=0)
    assert client.get(f"{BASE}/wallet", headers=h).json["refundable_fen"] == 0
    assert verify_ledger(app) == []


def _online(live: Live) -> bool:
    with live.app.app_context():
        row = db.session.get(StationState, SID)
        db.session.rollback()
        return bool(row and row.online and row.telemetry)


def test_prepaid_session_from_a_phone_browser_pays_on_the_h5_page(paying: tuple[Live, FakeServer]) -> None:
    """The H5 app outside WeChat: pay_channel "h5" opens a WeChat Pay H5 order (the payer's IP
    sent); paying at its page (h5_url) starts the session exactly as a JSAPI payment does."""
    live, fake = paying
    assert fake.pay is not None
    app, client = live.app, live.app.test_client()
    seed(app, seed_station, SID, *ORIGIN, guns={GUN: "plugged"}, state_row=False)
    st = live.station(SID)
    seed(app, lambda s: record_issued(s, live.broker.station(SID).identity.cert, "station"))
    st.publish_raw("telemetry", json.dumps(telemetry([gun_entry(GUN, "plugged")])), qos=1)
    wait_for(lambda: _online(live), 10, "S1 online with telemetry")
    st.answer = lambda cmd: Reply.success(cmd["id"], {"session_id": "5e55a0b1-2222-4333-8444-555566668888",
                                                      "power_cap_w": 60_000}) \
        if cmd["type"] == "start" else Reply.success(cmd["id"])
    token, did = login(client, fake, "prepay-h5-driver")
    h = auth(token)
    body = {"gun_code": CODE, "limit": {"mode": "amount", "value": 2000}, "pay": "wechat"}
    refused = client.post(ORDERS, json={**body, "pay": "wallet", "pay_channel": "h5"}, headers=h)
    assert refused.status_code == 400 and refused.json["error"]["code"] == "invalid_request"
    r = client.post(ORDERS, json={**body, "pay_channel": "h5"}, headers=h,
                    environ_base={"REMOTE_ADDR": "198.51.100.77"})
    assert r.status_code == 201, r.json
    assert r.json["channel"] == "h5" and "pay_params" not in r.json
    assert r.json["h5_url"].startswith(fake.url + "/fake/h5pay/checkmweb?")
    [paid] = [o for o in fake.pay.orders.values() if o.trade_type == "MWEB"]
    assert (paid.total, paid.payer_client_ip) == (2000, "198.51.100.77")
    fake.pay.pay(paid.out_trade_no)
    [cmd] = wait_for(lambda: [c for c in st.commands if c["type"] == "start"], 10, "the start sent")
    for t in list(charging.STARTS):
        t.join(10)
    assert cmd["order_id"] == r.json["order_id"] and cmd["limit"] == {"mode": "amount", "value": 2000}
    assert (balances(app, did).cash, balances(app, did).held) == (0, 2000)
    assert verify_ledger(app) == []
