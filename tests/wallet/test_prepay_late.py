"""A pay-per-session start whose payment never came, or came only after its payment window
(the notification delayed by an outage, or found afterwards by the reconcile job): the driver's
order says `cancelled`, never `created` forever, and money that arrives that late starts no
session hours after the scan — it goes back to WeChat (the driver paid for that start, not a
top-up), once. The real charging handler (charging.on_prepay_paid), the real WeChat Pay
client against the fake, its signed notification into the app."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from cloud.charging.models import ChargingPrepay
from cloud.db import db
from cloud.fakes.server import FakeServer
from cloud.ledger import service as ledger
from cloud.orders.models import Order
from cloud.wallet import service
from cloud.wallet.models import WalletPayment, WalletRefund
from cloud.wallet.settings import WalletSettings, provider_for
from tests.charging.support import ORDERS, ORIGIN, seed, seed_station
from tests.wallet.support import auth, balances, login, verify_ledger, wait_until

CODE = "S1-P1-1"
START = {"gun_code": CODE, "limit": {"mode": "amount", "value": 2000}, "pay": "wechat"}


def _start(app: Flask, client: FlaskClient, fake: FakeServer, user: str) -> tuple[dict[str, str], int, str, str]:
    seed(app, seed_station, "S1", *ORIGIN, guns={"P1-1": "plugged"})
    token, did = login(client, fake, user)
    h = auth(token)
    r = client.post(ORDERS, json=START, headers=h)
    assert r.status_code == 201 and r.json["state"] == "created", r.json
    with app.app_context():
        no = db.session.scalar(select(WalletPayment.out_trade_no).where(WalletPayment.order_id == r.json["order_id"]))
        db.session.rollback()
    return h, did, r.json["order_id"], no


def _age(app: Flask, oid: str, ms: int) -> None:
    """As if the start had been asked for `ms` ago (its payment window with it)."""
    with app.app_context(), db.transaction() as s:
        s.execute(update(ChargingPrepay).where(ChargingPrepay.order_id == oid)
                  .values(created_at=ChargingPrepay.created_at - ms))
        s.execute(update(WalletPayment).where(WalletPayment.order_id == oid)
                  .values(created_at=WalletPayment.created_at - ms, expires_at=WalletPayment.expires_at - ms))


def test_an_unpaid_prepay_closed_at_its_expiry_shows_cancelled(app: Flask, client: FlaskClient,
                                                               fake: FakeServer) -> None:
    h, _did, oid, no = _start(app, client, fake, "gave-up")
    _age(app, oid, 2 * 3600_000)
    with app.app_context():
        outcome = service.reconcile_payment(db.transaction, provider_for(app.config, app.extensions), no)
    assert outcome == "closed"
    view = client.get(f"{ORDERS}/{oid}", headers=h).json
    assert view["state"] == "cancelled", view


def test_a_payment_credited_after_its_window_starts_nothing_and_goes_back(app: Flask, client: FlaskClient,
                                                                          fake: FakeServer) -> None:
    assert fake.pay is not None
    h, did, oid, no = _start(app, client, fake, "late-payer")
    _age(app, oid, WalletSettings().payment_expire_ms + 3600_000)
    fake.pay.pay(no)  # paid at WeChat; the cloud hears of it an hour past the window
    wait_until(lambda: client.get(f"{ORDERS}/{oid}", headers=h).json["state"] == "cancelled",
               what="the late payment turned down")
    with app.app_context():
        assert db.session.get(Order, oid) is None  # no order, no start
        refunds = list(db.session.scalars(select(WalletRefund).where(WalletRefund.key == f"prepay:{oid}")))
        assert [r.amount_fen for r in refunds] == [2000]
        db.session.rollback()
    wait_until(lambda: [r.amount for r in fake.pay.refunds.values()] == [2000], what="the refund at WeChat")
    wait_until(lambda: balances(app, did) == ledger.Balances(0, 0, 0, 0), what="the refund paid out")
    assert client.get(f"{ORDERS}/{oid}", headers=h).json["refund_fen"] == 2000  # the order says so
    assert verify_ledger(app) == []


def test_a_payment_credited_in_its_window_still_starts(app: Flask, client: FlaskClient, fake: FakeServer) -> None:
    assert fake.pay is not None
    h, did, oid, no = _start(app, client, fake, "prompt-payer")
    _age(app, oid, 60_000)
    fake.pay.pay(no)
    wait_until(lambda: balances(app, did).held == 2000, what="the hold of the paid start")
    with app.app_context():
        assert db.session.get(Order, oid) is not None
        assert db.session.get(ChargingPrepay, oid).state == "paid"
        db.session.rollback()
    # No broker here, so the start itself fails and the payment goes back whole: waited for, so
    # that no handler thread is still writing when the fixtures drop the schema (a deadlock).
    wait_until(lambda: [r.amount for r in fake.pay.refunds.values()] == [2000], what="the refund at WeChat")
    wait_until(lambda: balances(app, did) == ledger.Balances(0, 0, 0, 0), what="the refund paid out")
    assert verify_ledger(app) == []


def test_a_paid_start_that_may_not_start_is_refunded_whole(app: Flask, client: FlaskClient,
                                                           fake: FakeServer) -> None:
    """Paid while the driver started another order (or the gun was reserved for another, or
    the price went): the session never runs and used nothing, so the payment goes back to
    WeChat, as the issue promises of a pay-per-session start; it is no top-up."""
    from cloud.orders import service as orders
    from cloud.orders.machine import Event

    assert fake.pay is not None
    h, did, oid, no = _start(app, client, fake, "two-starts")
    with app.app_context(), db.transaction() as s:  # a wallet start meanwhile, on another gun
        ledger.top_up(s, str(did), 1000, "test:meanwhile")
        orders.create(s, order_id="o-meanwhile", driver_id=str(did), sid="S1", gun="P1-2", limit_mode="amount",
                      limit_value=1000, hold_fen=1000)
        orders.apply(s, "o-meanwhile", Event.START_SENT)
    fake.pay.pay(no)
    wait_until(lambda: client.get(f"{ORDERS}/{oid}", headers=h).json["state"] == "cancelled",
               what="the paid start turned down")
    wait_until(lambda: [r.amount for r in fake.pay.refunds.values()] == [2000], what="the refund at WeChat")
    wait_until(lambda: balances(app, did) == ledger.Balances(0, 0, 1000, 0), what="the refund paid out")
    assert client.get(f"{ORDERS}/{oid}", headers=h).json["refund_fen"] == 2000
    assert verify_ledger(app) == []
