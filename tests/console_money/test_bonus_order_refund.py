"""An order paid from bonus credit and refunded by an operator comes back as bonus credit, never
as cash a balance refund could send to WeChat (issue 9: bonus is never refundable in cash); by
the original route only the part the order took from cash goes to WeChat."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from cloud.db import db
from cloud.drivers.models import Driver
from cloud.ledger import service as ledger
from cloud.orders import service as orders
from cloud.orders.machine import Event
from cloud.wallet import service as wallet
from cloud.wallet.errors import NothingToRefund
from cloud.wallet.models import WalletPayment, WalletRefund
from tests.console.support import csrf_of
from tests.console_money.test_money_pages import client_as


def _driver(app: Flask, *, recharge: int, bonus: int) -> str:
    """A driver who recharged `recharge` fen through WeChat and was granted `bonus` fen."""
    with app.app_context(), db.transaction() as s:
        d = Driver(appid="wx1", openid="op-bonus")
        s.add(d)
        s.flush()
        s.add(WalletPayment(out_trade_no="TR1", driver_id=d.id, purpose="wallet", amount_fen=recharge,
                            state="paid", refunded_fen=0, channel="jsapi", expires_at=0))
        ledger.top_up(s, str(d.id), recharge, "pay:TR1")
        ledger.grant_bonus(s, str(d.id), bonus, "promo-1")
        return str(d.id)


def _settled(app: Flask, driver: str, oid: str, hold: int, fee: int) -> None:
    with app.app_context(), db.transaction() as s:
        orders.create(s, order_id=oid, driver_id=driver, sid="S1", gun="1", limit_mode="amount",
                      limit_value=hold, hold_fen=hold)
        for ev in (Event.START_SENT, Event.SESSION_STARTED, Event.SESSION_ENDED):
            orders.apply(s, oid, ev)
        orders.apply(s, oid, Event.BILLED, lines=[orders.Line("electricity", fee)])


def _refund(app: Flask, oid: str, route: str, yuan: str, lang: str = "en"):  # noqa: ANN202
    fin = client_as(app, "fin")
    page = fin.get(f"/orders/{oid}")
    nonce = page.text.split('name="nonce" value="')[1].split('"')[0]
    form = {"route": route, "r_electricity": yuan, "note": "计量偏差", "nonce": nonce,
            "csrf_token": csrf_of(fin, f"/orders/{oid}")}
    r = fin.post(f"/orders/{oid}/refund", data=form, headers={"Accept-Language": lang})
    assert r.status_code == 303, r.text
    return fin.get(f"/orders/{oid}", headers={"Accept-Language": lang})


def _balances(app: Flask, driver: str) -> tuple[int, int, int]:
    with app.app_context():
        b = ledger.balances(db.session, driver)
        return b.cash, b.bonus, wallet.refundable_fen(db.session, int(driver))


def test_a_bonus_order_refunded_to_the_balance_comes_back_as_bonus(app: Flask) -> None:
    driver = _driver(app, recharge=2000, bonus=3000)
    _settled(app, driver, "ob-1", hold=3000, fee=3000)  # 30.00 CNY, all of it from bonus
    assert _balances(app, driver) == (2000, 0, 2000)
    page = _refund(app, "ob-1", "balance", "30.00")
    assert 'id="refund-notice"' in page.text and "30.00 as bonus credit" in page.text
    # the 30.00 came back as bonus: the balance refund finds only the 20.00 recharged
    assert _balances(app, driver) == (2000, 3000, 2000)
    with app.app_context(), db.transaction() as s:
        assert wallet.request_refund(s, int(driver), None).amount_fen == 2000
    assert _balances(app, driver) == (0, 3000, 0)
    with app.app_context(), db.transaction() as s:
        try:
            wallet.request_refund(s, int(driver), None)
            raise AssertionError("bonus credit was refundable")
        except NothingToRefund:
            pass
    with app.app_context():
        assert ledger.verify(db.session) == []


def test_by_the_original_route_only_the_cash_part_goes_to_wechat(app: Flask) -> None:
    driver = _driver(app, recharge=5000, bonus=1000)
    _settled(app, driver, "ob-2", hold=3000, fee=2500)  # 10.00 from bonus, 15.00 from cash
    assert _balances(app, driver) == (3500, 0, 3500)
    page = _refund(app, "ob-2", "original", "25.00")
    assert "10.00 as bonus credit" in page.text and "goes on to WeChat Pay" in page.text
    with app.app_context():
        (r,) = db.session.scalars(select(WalletRefund).where(WalletRefund.driver_id == int(driver)))
        assert r.amount_fen == 1500  # the cash part; the bonus part stayed bonus
    assert _balances(app, driver)[:2] == (3500, 1000)
    # an order paid wholly from bonus: nothing goes to WeChat, the operator is told so
    _settled(app, driver, "ob-3", hold=1000, fee=1000)
    page = _refund(app, "ob-3", "original", "10.00", lang="zh-CN")
    assert "未向微信支付退款" in page.text and "赠送金" in page.text
    with app.app_context():
        assert len(list(db.session.scalars(select(WalletRefund).where(WalletRefund.driver_id == int(driver))))) == 1
        assert ledger.verify(db.session) == []
    assert _balances(app, driver)[:2] == (3500, 1000)
