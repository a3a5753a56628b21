"""Recharges end to end: the real WeChat Pay client against the fake, the fake's signed and
encrypted notification delivered over HTTP to the served app, the wallet credited once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud.db import db
from cloud.fakes.server import FakeServer
from cloud.wallet import service
from cloud.wallet.models import WalletPayment
from cloud.wallet.settings import WalletSettings, provider_for
from tests.wallet.support import BASE, auth, balances, error_code, login, verify_ledger, wait_until


def recharge(client: FlaskClient, token: str, amount: int) -> dict:
    resp = client.post(f"{BASE}/wallet/recharges", json={"amount_fen": amount}, headers=auth(token))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.json  # type: ignore[return-value]


def pay_and_wait(fake: FakeServer, client: FlaskClient, token: str, made: dict) -> dict:
    """The payer confirms in the cashier (paySign checked), WeChat's notification credits."""
    assert fake.pay is not None
    order = fake.pay.check_pay_params(made["pay_params"])
    assert order.out_trade_no == made["recharge_id"]
    fake.pay.pay(order.out_trade_no)
    url = f"{BASE}/wallet/recharges/{made['recharge_id']}"
    return wait_until(lambda: (r := client.get(url, headers=auth(token)).json)["state"] == "paid" and r,
                      what="the notification's credit")  # type: ignore[no-any-return]


def test_recharge_end_to_end(app: Flask, client: FlaskClient, fake: FakeServer) -> None:
    token, driver = login(client, fake, "alice")
    made = recharge(client, token, 5000)
    assert made["state"] == "pending" and made["amount_fen"] == 5000
    assert set(made["pay_params"]) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert client.get(f"{BASE}/wallet", headers=auth(token)).json["balance_fen"] == 0
    got = pay_and_wait(fake, client, token, made)
    assert got["state"] == "paid" and got["paid_at"]
    wallet = client.get(f"{BASE}/wallet", headers=auth(token)).json
    assert wallet == {"balance_fen": 5000, "cash_fen": 5000, "bonus_fen": 0, "held_fen": 0, "debt_fen": 0,
                      "refundable_fen": 5000}
    listed = client.get(f"{BASE}/wallet/recharges", headers=auth(token)).json["recharges"]
    assert [r["recharge_id"] for r in listed] == [made["recharge_id"]]
    entries = client.get(f"{BASE}/wallet/statement", headers=auth(token)).json["entries"]
    assert [(e["kind"], e["amount_fen"], e["memo"]) for e in entries] == [("recharge", 5000, made["recharge_id"])]
    assert verify_ledger(app) == [] and balances(app, driver).cash == 5000


def test_the_credit_pays_debt_first(app: Flask, client: FlaskClient, fake: FakeServer) -> None:
    from cloud.ledger import service as ledger
    from cloud.orders import service as orders

    token, driver = login(client, fake, "debtor")
    pay_and_wait(fake, client, token, recharge(client, token, 1000))
    with app.app_context(), db.transaction() as s:  # a bill above its hold leaves 300 fen of debt
        orders.create(s, order_id="O-debt", driver_id=str(driver), sid="S1", gun="1", limit_mode="amount",
                      limit_value=1000, hold_fen=1000)
        for event in ("start_sent", "session_started", "session_ended"):
            orders.apply(s, "O-debt", event)
        orders.apply(s, "O-debt", "billed", lines=[orders.Line("electricity", 1300)])
    assert balances(app, driver) == ledger.Balances(cash=0, bonus=0, held=0, debt=300)
    pay_and_wait(fake, client, token, recharge(client, token, 2000))
    assert client.get(f"{BASE}/wallet", headers=auth(token)).json["cash_fen"] == 1700
    assert verify_ledger(app) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the rule, not the database, is tested
def test_recharge_bounds(client: FlaskClient, fake: FakeServer) -> None:
    token, _ = login(client, fake, "bob")
    for amount in (0, 500_001, -5, "100", True, 1.5, None):
        resp = client.post(f"{BASE}/wallet/recharges", json={"amount_fen": amount}, headers=auth(token))
        assert resp.status_code == 400 and error_code(resp) == "recharge_amount_invalid", amount
        assert resp.json["error"]["field"] == "amount_fen"
    assert error_code(client.post(f"{BASE}/wallet/recharges", json={"amount": 5}, headers=auth(token))) == \
        "invalid_request"
    assert error_code(client.post(f"{BASE}/wallet/recharges", json={}, headers=auth(token))) == "invalid_request"
    for amount in (1, 500_000):
        assert client.post(f"{BASE}/wallet/recharges", json={"amount_fen": amount},
                           headers=auth(token)).status_code == 201


def test_unconfigured_answers_503(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeServer, keys) -> None:
    from tests.wallet.conftest import build_app

    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = build_app(tmp_path, f"sqlite:///{tmp_path / 'n.sqlite'}",
                    {"WECHAT_APPID": keys.appid, "WECHAT_SECRET": keys.app_secret, "WECHAT_API_BASE_URL": fake.url})
    client = app.test_client()
    token, _ = login(client, fake, "carol")
    for lang, word in ((None, "微信支付"), ("en", "WeChat Pay")):
        resp = client.post(f"{BASE}/wallet/recharges", json={"amount_fen": 100}, headers=auth(token, lang))
        assert resp.status_code == 503 and error_code(resp) == "payment_not_configured"
        assert word in resp.json["error"]["message"]
    resp = client.post(f"{BASE}/wallet/refunds", json={}, headers=auth(token))
    assert resp.status_code == 503 and error_code(resp) == "payment_not_configured"
    assert client.get(f"{BASE}/wallet", headers=auth(token)).json["balance_fen"] == 0
    resp = client.post("/api/v1/pay/wechat/notify", data=b"{}", content_type="application/json")
    assert resp.status_code == 503 and resp.json["code"] == "FAIL"


def test_reconcile_on_read_and_by_the_job(app: Flask, client: FlaskClient, fake: FakeServer) -> None:
    """Payments whose notification never came: a poll after 10 s asks WeChat, and the job
    finds the rest; an expired unpaid one is closed at WeChat and here."""
    from cloud.wallet.jobs import reconcile_pending

    assert fake.pay is not None
    token, driver = login(client, fake, "dave")
    fake.pay.notify_origin = "http://127.0.0.1:9"  # the notifications go nowhere
    polled, jobbed, unpaid = (recharge(client, token, n) for n in (1000, 2000, 3000))
    fake.pay.pay(polled["recharge_id"])
    fake.pay.pay(jobbed["recharge_id"])
    settings = WalletSettings.from_settings(app.config)
    with app.app_context():
        provider = provider_for(app.config, app.extensions)
        soon = service.poll_payment(db.transaction, provider, driver, polled["recharge_id"], settings)
        assert soon["state"] == "pending"  # younger than 10 s: not asked
        later = int(time.time() * 1000) + 11_000
        assert service.poll_payment(db.transaction, provider, driver, polled["recharge_id"], settings,
                                    later)["state"] == "paid"
        assert balances(app, driver).cash == 1000
        s = db.sessionmaker()()
        try:
            counts = reconcile_pending(s, provider, int(time.time() * 1000) + 301_000)
            assert counts == {"credited": 1, "pending": 1}
            assert reconcile_pending(s, provider, int(time.time() * 1000) + 301_000) == {"pending": 1}
            expired = int(time.time() * 1000) + 1801_000
            assert reconcile_pending(s, provider, expired) == {"closed": 1}
        finally:
            s.close()
    assert fake.pay.orders[unpaid["recharge_id"]].trade_state == "CLOSED"
    states = {r["recharge_id"]: r["state"] for r in
              client.get(f"{BASE}/wallet/recharges", headers=auth(token)).json["recharges"]}
    assert states == {polled["recharge_id"]: "paid", jobbed["recharge_id"]: "paid", unpaid["recharge_id"]: "closed"}
    assert balances(app, driver).cash == 3000 and verify_ledger(app) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the rule, not the database, is tested
def test_provider_down_leaves_it_pending_then_closes(app: Flask, client: FlaskClient, fake: FakeServer) -> None:
    from cloud.fakes.wechatpay import Faults

    assert fake.pay is not None
    token, driver = login(client, fake, "erin")
    fake.pay.faults = Faults(fail_with=(500, "SYSTEM_ERROR"))
    resp = client.post(f"{BASE}/wallet/recharges", json={"amount_fen": 100}, headers=auth(token))
    assert resp.status_code == 503 and error_code(resp) == "payment_unavailable"
    fake.pay.faults = Faults()
    with app.app_context():
        no = db.session.query(WalletPayment.out_trade_no).scalar()
        db.session.rollback()
        provider = provider_for(app.config, app.extensions)
        assert service.reconcile_payment(db.transaction, provider, no) == "closed"  # never reached WeChat
    assert client.get(f"{BASE}/wallet/recharges/{no}", headers=auth(token)).json["state"] == "closed"


def test_settings_are_checked_at_start(tmp_path: Path, keys) -> None:
    from cloud import create_app
    from cloud.config import ConfigError
    from tests.wallet.support import NOTIFY_URL, REFUND_NOTIFY_URL

    base = {"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 's.sqlite'}", "CA_DIR": str(tmp_path / "ca")}
    good = keys.settings(keys.write(tmp_path / "keys"), "http://127.0.0.1:1", notify_url=NOTIFY_URL,
                         refund_notify_url=REFUND_NOTIFY_URL)
    create_app({**base, **good})
    for change, needle in (({"WECHATPAY_MCH_PRIVATE_KEY_FILE": str(tmp_path / "missing.pem")},
                            "WECHATPAY_MCH_PRIVATE_KEY_FILE"),
                           ({"WECHATPAY_APIV3_KEY": "short"}, "WECHATPAY_APIV3_KEY"),
                           ({"WECHATPAY_NOTIFY_URL": "http://cloud.example.cn/n"}, "WECHATPAY_NOTIFY_URL"),
                           ({"WECHATPAY_BASE_URL": "http://pay.example.cn"}, "WECHATPAY_BASE_URL"),
                           ({"WALLET_RECHARGE_MIN_FEN": 10, "WALLET_RECHARGE_MAX_FEN": 5}, "WALLET_RECHARGE_MIN_FEN"),
                           ({"WALLET_POLL_AFTER_S": 0}, "WALLET_POLL_AFTER_S")):
        with pytest.raises(ConfigError, match=needle):
            create_app({**base, **good, **change})
