"""Pay-per-session: a WeChat payment tied to an order (purpose "session") credits the cash,
then runs PAID_HANDLERS["session"] in the same transaction; after the order is final,
refund_prepay_rest sends what it did not spend back to WeChat, once."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from cloud.db import db
from cloud.fakes.server import FakeServer
from cloud.ledger import service as ledger
from cloud.orders import service as orders
from cloud.wallet import service
from cloud.wallet.models import WalletRefund
from tests.wallet.support import BASE, auth, balances, login, verify_ledger, wait_until


def test_prepaid_session_and_the_refund_of_its_rest(app: Flask, client: FlaskClient, fake: FakeServer,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    assert fake.pay is not None
    token, driver = login(client, fake, "alice")
    started: list[str] = []

    def on_paid(s: Session, order_id: str) -> None:  # what the charging package does: hold and start
        orders.create(s, order_id=order_id, driver_id=str(driver), sid="S1", gun="1", limit_mode="amount",
                      limit_value=3000, hold_fen=3000)
        started.append(order_id)

    monkeypatch.setitem(service.PAID_HANDLERS, "session", on_paid)
    with app.app_context(), db.transaction() as s:
        made = service.create_prepay(s, driver, "O-pre-1", 3000)
        again = service.create_prepay(s, driver, "O-pre-1", 3000)  # asked twice: one payment
    assert made["recharge_id"] == again["recharge_id"] and made["purpose"] == "session"
    assert fake.pay.check_pay_params(made["pay_params"]).total == 3000
    fake.pay.pay(made["recharge_id"])
    wait_until(lambda: balances(app, driver).held, what="the paid handler's hold")
    assert started == ["O-pre-1"]
    assert balances(app, driver) == ledger.Balances(cash=0, bonus=0, held=3000, debt=0)

    with app.app_context(), db.transaction() as s:
        service.refund_prepay_rest(s, "O-pre-1")  # not final yet: nothing
        for event in ("start_sent", "session_started", "session_ended"):
            orders.apply(s, "O-pre-1", event)
        orders.apply(s, "O-pre-1", "billed", lines=[orders.Line("electricity", 800), orders.Line("service", 400)])
        service.refund_prepay_rest(s, "O-pre-1")
    with app.app_context(), db.transaction() as s:
        service.refund_prepay_rest(s, "O-pre-1")  # again: made once
        assert s.query(WalletRefund).count() == 1
    rows = client.get(f"{BASE}/wallet/refunds", headers=auth(token)).json["refunds"]
    assert [(r["order_id"], r["amount_fen"]) for r in rows] == [("O-pre-1", 1800)]
    wait_until(lambda: client.get(f"{BASE}/wallet/refunds", headers=auth(token)).json["refunds"][0]["state"]
               == "success", what="the prepay refund's callback")
    assert [r.amount for r in fake.pay.refunds.values()] == [1800]
    assert balances(app, driver) == ledger.Balances(0, 0, 0, 0)
    assert client.get(f"{BASE}/wallet/recharges/{made['recharge_id']}",
                      headers=auth(token)).json["state"] == "refunded_part"
    assert verify_ledger(app) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the rule, not the database, is tested
def test_prepay_rest_is_never_more_than_the_cash(app: Flask, client: FlaskClient, fake: FakeServer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    assert fake.pay is not None
    token, driver = login(client, fake, "bob")
    monkeypatch.setitem(service.PAID_HANDLERS, "session", lambda s, order_id: None)
    with app.app_context(), db.transaction() as s:
        made = service.create_prepay(s, driver, "O-pre-2", 2000)
    fake.pay.pay(made["recharge_id"])
    wait_until(lambda: balances(app, driver).cash == 2000, what="the credit")
    with app.app_context(), db.transaction() as s:  # the driver spends most of it elsewhere first
        orders.create(s, order_id="O-other", driver_id=str(driver), sid="S1", gun="1", limit_mode="amount",
                      limit_value=1500, hold_fen=1500)
        orders.create(s, order_id="O-pre-2", driver_id=str(driver), sid="S1", gun="2", limit_mode="amount",
                      limit_value=500, hold_fen=500)
        orders.apply(s, "O-pre-2", "cancel")
        service.refund_prepay_rest(s, "O-pre-2")
    rows = client.get(f"{BASE}/wallet/refunds", headers=auth(token)).json["refunds"]
    assert [r["amount_fen"] for r in rows] == [500]
    assert balances(app, driver).cash == 0 and verify_ledger(app) == []


def test_a_balance_refund_leaves_a_running_prepaid_sessions_payment_alone(
        app: Flask, client: FlaskClient, fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A driver with a wallet balance pays one session through WeChat and asks for a balance
    refund while it runs: the refund takes the wallet's top-up, not the session's payment,
    so what the session does not spend still goes back to that payment when it settles."""
    assert fake.pay is not None
    token, driver = login(client, fake, "gwen")
    no = client.post(f"{BASE}/wallet/recharges", json={"amount_fen": 5000}, headers=auth(token)).json["recharge_id"]
    fake.pay.pay(no)
    wait_until(lambda: balances(app, driver).cash == 5000, what="the top-up")

    def on_paid(s: Session, order_id: str) -> None:
        o = orders.create(s, order_id=order_id, driver_id=str(driver), sid="S1", gun="1", limit_mode="amount",
                          limit_value=3000, hold_fen=3000)
        o.funding = "prepay"

    monkeypatch.setitem(service.PAID_HANDLERS, "session", on_paid)
    with app.app_context(), db.transaction() as s:
        made = service.create_prepay(s, driver, "O-pre-3", 3000)
    fake.pay.pay(made["recharge_id"])
    wait_until(lambda: balances(app, driver).held == 3000, what="the prepaid hold")
    assert client.get(f"{BASE}/wallet", headers=auth(token)).json["refundable_fen"] == 5000
    r = client.post(f"{BASE}/wallet/refunds", json={}, headers=auth(token))
    assert r.status_code == 202, r.json
    assert [(p["out_trade_no"], p["amount_fen"]) for p in r.json["parts"]] == [(no, 5000)]
    with app.app_context(), db.transaction() as s:
        for event in ("start_sent", "session_started", "session_ended"):
            orders.apply(s, "O-pre-3", event)
        orders.apply(s, "O-pre-3", "billed", lines=[orders.Line("electricity", 700), orders.Line("service", 300)])
        service.refund_prepay_rest(s, "O-pre-3")
    rows = client.get(f"{BASE}/wallet/refunds", headers=auth(token)).json["refunds"]
    assert sorted((r["order_id"] or "", r["amount_fen"]) for r in rows) == [("", 5000), ("O-pre-3", 2000)]
    wait_until(lambda: balances(app, driver) == ledger.Balances(0, 0, 0, 0), what="both refunds paid out")
    assert verify_ledger(app) == []
