"""A pay-per-session order that went abnormal and is resolved by an operator (forced settlement
or void) gives back to WeChat what it did not spend, as a settlement by the session's records
does (cloud/billing: refund_prepay_rest): the driver's order page shows that refund
(`refund_fen`), so it must be made, once."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from cloud.db import db
from cloud.drivers.models import Driver
from cloud.ledger import service as ledger
from cloud.orders import service as orders
from cloud.orders.machine import Event
from cloud.wallet.models import WalletPayment, WalletRefund
from tests.console.support import csrf_of
from tests.console_money.test_money_pages import client_as

HOLD = 5000


def _prepaid_abnormal(app: Flask, oid: str) -> int:
    """A driver who paid HOLD through WeChat for order `oid`, now abnormal (timed out)."""
    with app.app_context(), db.transaction() as s:
        d = Driver(appid="wx1", openid=f"op-{oid}")
        s.add(d)
        s.flush()
        s.add(WalletPayment(out_trade_no=f"TS{oid}", driver_id=d.id, purpose="session", order_id=oid,
                            amount_fen=HOLD, state="paid", refunded_fen=0, channel="jsapi", expires_at=0))
        ledger.top_up(s, str(d.id), HOLD, f"pay:TS{oid}")
        o = orders.create(s, order_id=oid, driver_id=str(d.id), sid="S1", gun="1", limit_mode="amount",
                          limit_value=HOLD, hold_fen=HOLD)
        o.funding = "prepay"
        orders.apply(s, oid, Event.START_SENT)
        orders.apply(s, oid, Event.SESSION_STARTED, session_id=f"sess-{oid}")
        orders.apply(s, oid, Event.TIMEOUT)
        return d.id


@pytest.mark.parametrize(("action", "form", "spent"), [("void", {}, 0),
                                                        ("bill", {"electricity": "12.34", "service": "0.66"}, 1300)])
def test_a_resolved_prepaid_order_refunds_its_rest_once(app: Flask, action: str, form: dict[str, str],
                                                        spent: int) -> None:
    oid = f"o-prepaid-{action}"
    driver = _prepaid_abnormal(app, oid)
    ops = client_as(app, "ops")
    tok = csrf_of(ops, f"/orders/{oid}")
    r = ops.post(f"/orders/{oid}/resolve", data={"action": action, "note": "核实", "csrf_token": tok, **form})
    assert r.status_code == 303, r.text
    r = ops.post(f"/orders/{oid}/resolve", data={"action": action, "note": "again", "csrf_token": tok, **form})
    assert r.status_code == 400  # resolved once
    with app.app_context():
        refunds = list(db.session.scalars(select(WalletRefund).where(WalletRefund.key == f"prepay:{oid}")))
        assert [(r.driver_id, r.amount_fen) for r in refunds] == [(driver, HOLD - spent)]
        # the rest left the balance for WeChat (refunds payable until its callback)
        assert ledger.balances(db.session, str(driver)) == ledger.Balances(0, 0, 0, 0)
        assert db.session.scalar(select(WalletPayment.refunded_fen)
                                 .where(WalletPayment.order_id == oid)) == HOLD - spent
        assert ledger.verify(db.session) == []
