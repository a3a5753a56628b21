"""The H5 app's payment channels through the driver API and the served app: an H5 payment
("h5": h5_url, the payer's IP sent) and JSAPI under the official account ("oa_jsapi": its
appid and the driver's openid there), for recharges and session prepayments. The fake's
signed, encrypted notification credits once; a second delivery or a wrong amount credits
nothing more."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.db import db
from cloud.drivers import service as drivers
from cloud.drivers.service import DriverSettings
from cloud.fakes.keys import FakeKeys
from cloud.fakes.server import FakeServer
from cloud.fakes.wechat_login import unionid_for
from cloud.ledger import service as ledger
from cloud.models import now_ms
from cloud.orders import service as orders
from cloud.wallet import service
from cloud.wallet.models import WalletPayment
from cloud.wallet.settings import WalletSettings
from cloud.wechat.login import WechatSession
from tests.wallet.support import (
    BASE,
    AppServer,
    auth,
    balances,
    error_code,
    login,
    payment_notification,
    signed,
    verify_ledger,
    wait_until,
)

NOTIFY = "/api/v1/pay/wechat/notify"


def oa_login(
    app: Flask, fake: FakeServer, keys: FakeKeys, user: str, unionid: str | None = None
) -> tuple[str, int]:
    """What the H5 app's web login does once WeChat's authorisation gave the account's openid."""
    assert fake.oauth is not None
    openid = fake.oauth.remember(user)
    with app.app_context(), db.transaction() as s:
        got = drivers.login(
            s,
            WechatSession(openid=openid, session_key="", unionid=unionid),
            DriverSettings.from_settings(app.config),
            now_ms(),
            appid=keys.oa_appid,
        )
    return got.token, got.profile.id


def recharge(client: FlaskClient, token: str, amount: int, channel: str) -> dict:
    resp = client.post(
        f"{BASE}/wallet/recharges",
        json={"amount_fen": amount, "channel": channel},
        headers=auth(token),
        environ_base={"REMOTE_ADDR": "198.51.100.23"},
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.json  # type: ignore[return-value]


def state(client: FlaskClient, token: str, no: str) -> str:
    return str(client.get(f"{BASE}/wallet/recharges/{no}", headers=auth(token)).json["state"])


def test_h5_recharge_credits_once(
    app: Flask, client: FlaskClient, fake: FakeServer, keys: FakeKeys
) -> None:
    assert fake.pay is not None
    token, driver = login(client, fake, "h5-alice")
    made = recharge(client, token, 5000, "h5")
    assert made["channel"] == "h5" and "pay_params" not in made and made["state"] == "pending"
    assert made["h5_url"].startswith(fake.url + "/fake/h5pay/checkmweb?")
    held = fake.pay.orders[made["recharge_id"]]
    assert (held.trade_type, held.appid, held.payer_client_ip, held.total) == (
        "MWEB",
        keys.oa_appid,
        "198.51.100.23",
        5000,
    )
    fake.pay.pay(made["recharge_id"])
    wait_until(
        lambda: state(client, token, made["recharge_id"]) == "paid",
        what="the notification's credit",
    )
    assert balances(app, driver) == ledger.Balances(cash=5000, bonus=0, held=0, debt=0)
    # WeChat delivers it again (signed afresh): answered as handled, credited once
    body = payment_notification(fake, made["recharge_id"])
    for _ in range(2):
        resp = client.post(NOTIFY, data=body, headers=signed(fake, body))
        assert resp.status_code == 204, resp.get_data(as_text=True)
    assert balances(app, driver).cash == 5000 and verify_ledger(app) == []


def test_h5_recharge_with_a_wrong_amount_credits_nothing(
    app: Flask, client: FlaskClient, fake: FakeServer
) -> None:
    assert fake.pay is not None
    token, driver = login(client, fake, "h5-bob")
    made = recharge(client, token, 3000, "h5")
    fake.pay.notify_origin = (
        "http://127.0.0.1:9"  # its own notification goes nowhere: ours is forged
    )
    fake.pay.pay(made["recharge_id"])
    body = payment_notification(
        fake, made["recharge_id"], amount={"total": 30000, "payer_total": 30000, "currency": "CNY"}
    )
    resp = client.post(NOTIFY, data=body, headers=signed(fake, body))
    assert resp.status_code == 400 and resp.json["code"] == "FAIL"
    assert (
        balances(app, driver).cash == 0 and state(client, token, made["recharge_id"]) == "pending"
    )
    right = payment_notification(fake, made["recharge_id"])
    assert client.post(NOTIFY, data=right, headers=signed(fake, right)).status_code == 204
    assert balances(app, driver).cash == 3000 and verify_ledger(app) == []


def test_oa_jsapi_recharge_pays_under_the_official_account(
    app: Flask, client: FlaskClient, fake: FakeServer, keys: FakeKeys
) -> None:
    assert fake.pay is not None and fake.oauth is not None
    token, driver = oa_login(app, fake, keys, "oa-carol")
    made = recharge(client, token, 2000, "oa_jsapi")
    assert made["channel"] == "oa_jsapi" and made["pay_params"]["appId"] == keys.oa_appid
    held = fake.pay.check_pay_params(
        made["pay_params"]
    )  # what WeixinJSBridge checks: paySign, appId
    assert (held.appid, held.openid) == (keys.oa_appid, fake.oauth.openid_for("oa-carol"))
    fake.pay.pay(held.out_trade_no)
    wait_until(lambda: state(client, token, made["recharge_id"]) == "paid", what="the credit")
    assert balances(app, driver).cash == 2000


def test_oa_jsapi_uses_the_accounts_openid_of_a_mini_program_driver(
    app: Flask, client: FlaskClient, fake: FakeServer, keys: FakeKeys
) -> None:
    assert fake.pay is not None and fake.login is not None and fake.oauth is not None
    resp = client.post(
        f"{BASE}/login", json={"code": fake.login.issue_code("dora", unionid=unionid_for("dora"))}
    )
    mini_token, driver = resp.json["token"], resp.json["driver"]["id"]
    # only the mini-program so far: no openid under the official account
    resp = client.post(
        f"{BASE}/wallet/recharges",
        json={"amount_fen": 100, "channel": "oa_jsapi"},
        headers=auth(mini_token),
    )
    assert resp.status_code == 409 and error_code(resp) == "payment_channel_unavailable"
    token, same = oa_login(app, fake, keys, "dora", unionid=unionid_for("dora"))
    assert same == driver  # one person, one wallet
    made = recharge(client, token, 100, "oa_jsapi")
    assert fake.pay.check_pay_params(made["pay_params"]).openid == fake.oauth.openid_for("dora")
    # the mini-program still pays under its own appid and openid
    mini = recharge(client, mini_token, 100, "jsapi")
    assert fake.pay.check_pay_params(mini["pay_params"]).openid == fake.login.openid_for("dora")


def test_unknown_channel_is_refused(client: FlaskClient, fake: FakeServer) -> None:
    token, _ = login(client, fake, "eve")
    resp = client.post(
        f"{BASE}/wallet/recharges",
        json={"amount_fen": 100, "channel": "alipay"},
        headers=auth(token),
    )
    assert resp.status_code == 400 and error_code(resp) == "invalid_request"


@pytest.mark.parametrize(
    "db_url", ["sqlite"], indirect=True
)  # the channel, not the database, is tested
def test_h5_session_prepay_credits_once_and_starts_once(
    app: Flask, client: FlaskClient, fake: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert fake.pay is not None
    token, driver = login(client, fake, "h5-frank")
    started: list[str] = []

    def on_paid(s: Session, order_id: str) -> None:
        orders.create(
            s,
            order_id=order_id,
            driver_id=str(driver),
            sid="S1",
            gun="1",
            limit_mode="amount",
            limit_value=3000,
            hold_fen=3000,
        )
        started.append(order_id)

    monkeypatch.setitem(service.PAID_HANDLERS, "session", on_paid)
    ch = service.channel("h5", WalletSettings.from_settings(app.config), "203.0.113.40")
    with app.app_context(), db.transaction() as s:
        made = service.create_prepay(s, driver, "O-h5-1", 3000, ch=ch)
        again = service.create_prepay(s, driver, "O-h5-1", 3000, ch=ch)
    assert made["recharge_id"] == again["recharge_id"] and made["h5_url"] == again["h5_url"]
    assert fake.pay.orders[made["recharge_id"]].payer_client_ip == "203.0.113.40"
    fake.pay.pay(made["recharge_id"])
    wait_until(lambda: balances(app, driver).held, what="the paid handler's hold")
    body = payment_notification(fake, made["recharge_id"])
    assert client.post(NOTIFY, data=body, headers=signed(fake, body)).status_code == 204
    assert started == ["O-h5-1"]
    assert balances(app, driver) == ledger.Balances(cash=0, bonus=0, held=3000, debt=0)
    assert verify_ledger(app) == []
    assert (
        client.get(f"{BASE}/wallet/recharges/{made['recharge_id']}", headers=auth(token)).json[
            "state"
        ]
        == "paid"
    )


@pytest.mark.postgres
def test_h5_and_oa_notifications_racing_credit_each_once(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pg_url: str,
    keys: FakeKeys,
    fake: FakeServer,
    server: AppServer,
) -> None:  # noqa: F811
    """Threads on PostgreSQL through the served app: the notifications of an H5 and an
    official-account payment of one driver, each delivered 12 times at once (signed afresh,
    as WeChat's retries are), credit each payment exactly once."""
    from tests.wallet.conftest import build_app, wallet_settings
    from tests.wallet.test_concurrency import run_threads

    assert fake.pay is not None
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = build_app(tmp_path, pg_url, wallet_settings(keys, tmp_path, fake))
    server.app = app
    client = app.test_client()
    fake.pay.notify_origin = "http://127.0.0.1:9"  # this test delivers the notifications itself
    token, driver = oa_login(app, fake, keys, "race-h5")
    nos = [
        recharge(client, token, 1234, "h5")["recharge_id"],
        recharge(client, token, 4321, "oa_jsapi")["recharge_id"],
    ]
    for no in nos:
        fake.pay.pay(no)
    bodies = [payment_notification(fake, no) for no in nos]
    answers: list[int] = []

    def deliver(i: int) -> None:
        with requests.Session() as http:
            for _ in range(3):
                body = bodies[i % 2]
                answers.append(
                    http.post(
                        f"{server.url}{NOTIFY}", data=body, headers=signed(fake, body), timeout=30
                    ).status_code
                )

    run_threads(8, deliver)
    assert sorted(set(answers)) == [204] and len(answers) == 24
    assert balances(app, driver) == ledger.Balances(cash=1234 + 4321, bonus=0, held=0, debt=0)
    assert verify_ledger(app) == []
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count()).select_from(WalletPayment).where(WalletPayment.state == "paid")
            )
            == 2
        )
        db.session.rollback()
        db.engine.dispose()
