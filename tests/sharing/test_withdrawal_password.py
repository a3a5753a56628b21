"""A pile owner's withdrawal asks for the payment password the owner set (the wallet's: its
check, its lockout, its error codes — those of a wallet start), through the driver API (the
real app on SQLite and PostgreSQL, WeChat login and WeChat Pay the local fake), each answer
checked against docs/api/cloud.openapi.yaml: missing, wrong (attempts counted), malformed
(no attempt spent), right (paid), and locked after repeated wrong ones. A refused withdrawal
moves no money: the ledger (every account's balance and the transactions), the withdrawals
and the fake's transfers are the same after it as before."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import func, select

from cloud.db import db
from cloud.fakes.server import FakeServer
from cloud.ledger import service as ledger
from cloud.ledger.models import LedgerAccount, LedgerTransaction
from cloud.sharing.models import Withdrawal
from tests.charging.test_openapi_walk import Walk
from tests.drivers_api.support import BASE, auth, token_of
from tests.sharing.test_owner_api import PILES, _code, _seed, _settled_order, app, fake, keys  # noqa: F401

WITHDRAW = f"{BASE}/sharing/withdrawals"
PASSWORD = "135790"


def _money(flask_app: Flask, wechat: FakeServer) -> tuple[Any, ...]:
    """Everything a withdrawal could move: every ledger account's balance, the number of
    ledger transactions, the withdrawal rows and the transfers the fake WeChat Pay was asked."""
    with flask_app.app_context():
        s = db.session
        accounts = tuple(s.execute(select(LedgerAccount.driver_id, LedgerAccount.kind, LedgerAccount.balance)
                                   .order_by(LedgerAccount.driver_id, LedgerAccount.kind)).all())
        txns = s.scalar(select(func.count()).select_from(LedgerTransaction))
        rows = tuple(s.execute(select(Withdrawal.id, Withdrawal.state, Withdrawal.amount_fen)
                               .order_by(Withdrawal.id)).all())
        s.rollback()
    assert wechat.pay is not None
    return accounts, txns, rows, tuple(sorted(wechat.pay.transfers))


def test_a_withdrawal_needs_the_payment_password_and_a_refusal_moves_nothing(
    app: Flask,  # noqa: F811
    fake: FakeServer,  # noqa: F811
) -> None:
    x = Walk(app.test_client())
    _seed(app)
    h = auth(token_of(x.client, fake, "owner-pw"))
    h2 = auth(token_of(x.client, fake, "visitor-pw"))
    owner = str(x("GET", f"{BASE}/me", 200, headers=h)["id"])
    x("POST", PILES, 201, json={"gun_code": "HOME-P1-1", "pairing_code": _code(app, "HOME", "P1-1")}, headers=h)
    _settled_order(app, int(x("GET", f"{BASE}/me", 200, headers=h2)["id"]), "pw-o1")
    with app.app_context():
        assert ledger.owner_balances(db.session, owner) == (1236, 0)
        db.session.rollback()
    x("POST", f"{BASE}/payment-password", 201, json={"password": PASSWORD}, headers=h)

    def refused(status: int, code: str, body: dict[str, Any], lang: str = "zh-CN") -> dict[str, Any]:
        before = _money(app, fake)
        answer = x("POST", WITHDRAW, status, code, json=body, headers={**h, "Accept-Language": lang})
        assert _money(app, fake) == before, f"{code}: money moved"
        return answer["error"]

    # missing: the code and words of a wallet start's check
    e = refused(403, "payment_password_required", {"amount_fen": 1000})
    assert e["message"] == "请输入支付密码。"
    assert refused(403, "payment_password_required", {"amount_fen": 1000}, "en")["message"] == (
        "Enter your payment password.")
    # wrong: one attempt of the lockout's three (build_app: PAYMENT_PASSWORD_MAX_FAILURES 3)
    e = refused(403, "payment_password_wrong", {"amount_fen": 1000, "payment_password": "135791"})
    assert e["attempts_left"] == 2 and "还可尝试 2 次" in e["message"]
    # malformed, or a bad amount: refused before the lockout counts anything
    refused(400, "payment_password_format", {"amount_fen": 1000, "payment_password": "12ab56"})
    refused(400, "payment_password_format", {"amount_fen": 1000, "payment_password": 135790})
    refused(400, "invalid_amount", {"amount_fen": 0, "payment_password": "000000"})
    e = refused(403, "payment_password_wrong", {"amount_fen": 1000, "payment_password": "000000"})
    assert e["attempts_left"] == 1
    # a refused amount with the right password: the password was right, the earnings too small
    refused(409, "insufficient_earnings", {"amount_fen": 1237, "payment_password": PASSWORD})

    # right: held, transferred by the fake WeChat Pay, paid; the count cleared
    w = x("POST", WITHDRAW, 201, json={"amount_fen": 1000, "payment_password": PASSWORD}, headers=h)
    assert w["state"] == "paid"
    assert fake.pay is not None and fake.pay.transfers[w["out_bill_no"]].amount == 1000
    with app.app_context():
        assert ledger.owner_balances(db.session, owner) == (236, 0)
        db.session.rollback()

    # three wrong in a row lock it (the third says so), then even the right one is refused
    for left in (2, 1):
        assert refused(403, "payment_password_wrong",
                       {"amount_fen": 100, "payment_password": "246801"})["attempts_left"] == left
    e = refused(403, "payment_password_wrong", {"amount_fen": 100, "payment_password": "246801"})
    assert e["attempts_left"] == 0 and e["retry_after_s"] > 0 and "已锁定" in e["message"]
    r = x.client.post(WITHDRAW, json={"amount_fen": 100, "payment_password": PASSWORD}, headers=h)
    before = _money(app, fake)
    e = refused(429, "payment_password_locked", {"amount_fen": 100, "payment_password": PASSWORD}, "en")
    assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= 3 * 3600
    assert "locked" in e["message"] and e["retry_after_s"] > 0
    # the wallet's own lockout: a charge start's or refund's check is locked too
    x("POST", f"{BASE}/payment-password/verify", 429, "payment_password_locked",
      json={"password": PASSWORD}, headers=h)
    assert _money(app, fake) == before
    with app.app_context():
        assert ledger.owner_balances(db.session, owner) == (236, 0)
        assert [v.state for v in db.session.scalars(select(Withdrawal))] == ["paid"]
        db.session.rollback()


def test_an_owner_without_a_payment_password_withdraws_without_one(
    app: Flask,  # noqa: F811
    fake: FakeServer,  # noqa: F811
) -> None:
    x = Walk(app.test_client())
    _seed(app)
    h = auth(token_of(x.client, fake, "owner-nopw"))
    h2 = auth(token_of(x.client, fake, "visitor-nopw"))
    x("POST", PILES, 201, json={"gun_code": "HOME-P1-1", "pairing_code": _code(app, "HOME", "P1-1")}, headers=h)
    _settled_order(app, int(x("GET", f"{BASE}/me", 200, headers=h2)["id"]), "nopw-o1")
    # none set: none asked (a password sent anyway is not looked at, as at a wallet start)
    assert x("POST", WITHDRAW, 201, json={"amount_fen": 500}, headers=h)["state"] == "paid"
    assert x("POST", WITHDRAW, 201, json={"amount_fen": 300, "payment_password": "999999"},
             headers=h)["state"] == "paid"
