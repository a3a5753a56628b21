"""Money rule (a) of docs/sharing.md: a pay-per-session start on a shared pile whose payment
comes in after the owner closed the pile (or outside its open hours) does not start, and the
payment goes back to WeChat. Through the real pieces: POST /orders with pay=wechat, the fake
WeChat Pay's signed payment notification to the app served over HTTP, the handler the
charging package registered, the refund confirmed by the fake's refund callback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from cloud.charging.models import ChargingPrepay
from cloud.db import db
from cloud.fakes.keys import FakeKeys
from cloud.fakes.server import FakeServer
from cloud.ledger import service as ledger
from cloud.orders.models import Order
from cloud.sharing import service as sharing
from tests.charging.conftest import make_app
from tests.charging.support import ORDERS, ORIGIN, seed, seed_station
from tests.wallet.support import BASE, AppServer, auth, login, wait_until

ALWAYS = [
    {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "00:00", "end": "24:00"}
]


@pytest.fixture
def paying(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str
) -> Iterator[tuple[Flask, FakeServer]]:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    keys = FakeKeys()
    server = AppServer().start()
    with FakeServer.for_keys(keys, retry_scale=0.002, notify_origin=server.url) as fake:
        app = make_app(
            tmp_path, db_url, fake, **keys.settings(keys.write(tmp_path / "keys"), fake.url)
        )
        server.app = app
        try:
            yield app, fake
        finally:
            server.close()
            with app.app_context():
                db.engine.dispose()


@pytest.mark.parametrize("how", ["closed", "outside_hours"])
def test_a_start_paid_after_the_pile_closed_is_refunded_not_started(
    paying: tuple[Flask, FakeServer], how: str
) -> None:
    app, fake = paying
    assert fake.pay is not None
    client = app.test_client()
    seed(app, seed_station, "HOME", *ORIGIN, guns={"P1-1": "plugged"})
    otoken, owner = login(client, fake, "owner")
    pid = seed(
        app, lambda s: sharing.register(s, str(owner), "HOME", "P1-1", commission_bp=1000).id
    )
    seed(app, lambda s: sharing.set_windows(s, str(owner), pid, ALWAYS))
    seed(app, lambda s: sharing.set_open(s, str(owner), pid, True))
    token, did = login(client, fake, "visitor")
    h = auth(token)
    r = client.post(
        ORDERS,
        json={"gun_code": "HOME-P1-1", "limit": {"mode": "amount", "value": 2500}, "pay": "wechat"},
        headers=h,
    )
    assert r.status_code == 201, r.json
    oid, params = r.json["order_id"], r.json["pay_params"]
    # the owner closes the pile (or takes away its hours) while the visitor is paying
    if how == "closed":
        seed(app, lambda s: sharing.set_open(s, str(owner), pid, False))
    else:
        seed(app, lambda s: sharing.set_windows(s, str(owner), pid, []))
    [paid] = [
        o for o in fake.pay.orders.values() if params["package"] == f"prepay_id={o.prepay_id}"
    ]
    fake.pay.pay(paid.out_trade_no)

    refunds = wait_until(
        lambda: client.get(f"{BASE}/wallet/refunds", headers=h).json["refunds"],
        20,
        what="the prepayment's refund",
    )
    assert [(x["order_id"], x["amount_fen"]) for x in refunds] == [(oid, 2500)]
    wait_until(
        lambda: (
            client.get(f"{BASE}/wallet/refunds", headers=h).json["refunds"][0]["state"] == "success"
        ),
        20,
        what="the refund's callback",
    )
    assert [x.amount for x in fake.pay.refunds.values()] == [2500]
    with app.app_context():
        s = db.session
        assert s.get(Order, oid) is None  # nothing was started
        assert s.get_one(ChargingPrepay, oid).state == "cancelled"
        assert ledger.balances(s, str(did)) == ledger.Balances(0, 0, 0, 0)
        assert ledger.verify(s) == []
        s.rollback()
    view = client.get(f"{ORDERS}/{oid}", headers=h).json
    assert view["state"] == "cancelled"
    # the owner may still pay for a start on their own closed pile (never refused for sharing)
    oh = auth(otoken)
    r = client.post(
        ORDERS,
        json={"gun_code": "HOME-P1-1", "limit": {"mode": "amount", "value": 1000}, "pay": "wechat"},
        headers=oh,
    )
    assert r.status_code == 201, r.json
