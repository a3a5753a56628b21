"""Payment notifications at the callback: a duplicate credits once; forged, tampered,
replayed, stale, probe, wrong-amount, unknown and foreign ones credit nothing and are answered
4xx/5xx with {"code": "FAIL"} (so WeChat retries), logged."""

from __future__ import annotations

import json
import logging
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud.fakes.keys import new_rsa_key
from cloud.fakes.server import FakeServer
from cloud.payments.wechatpay import aead
from tests.wallet.support import (
    BASE,
    auth,
    balances,
    login,
    payment_notification,
    signed,
    verify_ledger,
)

NOTIFY = "/api/v1/pay/wechat/notify"
REFUND_NOTIFY = "/api/v1/pay/wechat/refund-notify"


def paid_elsewhere(client: FlaskClient, fake: FakeServer, token: str, amount: int) -> str:
    """A recharge the payer paid whose notification went nowhere: ours to deliver."""
    assert fake.pay is not None
    fake.pay.notify_origin = "http://127.0.0.1:9"
    no = client.post(f"{BASE}/wallet/recharges", json={"amount_fen": amount}, headers=auth(token)).json["recharge_id"]
    fake.pay.pay(no)
    return str(no)


def post(client: FlaskClient, body: bytes, headers: dict[str, str], path: str = NOTIFY):
    return client.post(path, data=body, headers=headers)


def refused(resp, status: int) -> None:
    assert resp.status_code == status, (resp.status_code, resp.data)
    assert json.loads(resp.data)["code"] == "FAIL"


def test_duplicate_notification_credits_once(app: Flask, client: FlaskClient, fake: FakeServer) -> None:
    token, driver = login(client, fake, "alice")
    no = paid_elsewhere(client, fake, token, 5000)
    body = payment_notification(fake, no)
    for _ in range(4):  # WeChat's retries: the same notification, signed afresh each time
        resp = post(client, body, signed(fake, body))
        assert resp.status_code == 204 and resp.data == b""
    again = payment_notification(fake, no)  # another notification of the same payment
    assert post(client, again, signed(fake, again)).status_code == 204
    assert balances(app, driver).cash == 5000
    entries = client.get(f"{BASE}/wallet/statement", headers=auth(token)).json["entries"]
    assert [e["amount_fen"] for e in entries] == [5000]
    assert verify_ledger(app) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the rule, not the database, is tested
def test_hostile_notifications_credit_nothing(app: Flask, client: FlaskClient, fake: FakeServer,
                                              caplog: pytest.LogCaptureFixture) -> None:
    assert fake.pay is not None
    token, driver = login(client, fake, "mallory")
    no = paid_elsewhere(client, fake, token, 5000)
    good = payment_notification(fake, no)
    caplog.set_level(logging.WARNING)

    refused(post(client, good, signed(fake, good, key=new_rsa_key())), 401)  # forged: another key
    headers = signed(fake, good)
    refused(post(client, good.replace(b'"id": "', b'"id": "x'), headers), 401)  # tampered after signing
    refused(post(client, good, signed(fake, good, ts=int(time.time()) - 400)), 401)  # replayed late: stale
    probe = signed(fake, good)
    probe["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + probe["Wechatpay-Signature"]
    refused(post(client, good, probe), 401)
    refused(post(client, good, {"Content-Type": "application/json"}), 401)  # unsigned
    envelope = json.loads(good)
    ct = envelope["resource"]["ciphertext"]
    envelope["resource"]["ciphertext"] = ct[:10] + ("A" if ct[10] != "A" else "B") + ct[11:]
    broken = json.dumps(envelope).encode()
    refused(post(client, broken, signed(fake, broken)), 400)  # signed, but the ciphertext was changed
    for changes, status in (({"amount": {"total": 50, "payer_total": 50, "currency": "CNY"}}, 400),
                            ({"mchid": "1900000999"}, 400), ({"appid": "wx0000000000000000"}, 400),
                            ({"out_trade_no": "TU20260101DEADBEEF00000000"}, 404),
                            ({"trade_state": "NOTPAY"}, 400)):
        body = payment_notification(fake, no, **changes)
        refused(post(client, body, signed(fake, body)), status)
    refused(post(client, b"not json", signed(fake, b"not json")), 400)
    assert client.post(NOTIFY, data=b"x" * 70_000, content_type="application/json").status_code == 413

    assert balances(app, driver).cash == 0
    assert client.get(f"{BASE}/wallet/recharges/{no}", headers=auth(token)).json["state"] == "pending"
    assert "refused" in caplog.text and verify_ledger(app) == []

    resp = post(client, good, headers)  # the genuine one still credits …
    assert resp.status_code == 204 and balances(app, driver).cash == 5000
    refused(post(client, good, headers), 401)  # … and the very same message again is a replay
    assert balances(app, driver).cash == 5000


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the rule, not the database, is tested
def test_hostile_refund_notifications_change_nothing(app: Flask, client: FlaskClient, fake: FakeServer) -> None:
    assert fake.pay is not None
    refund = {"mchid": fake.pay.mchid, "out_trade_no": "TU20260101AAAA", "transaction_id": "4200",
              "out_refund_no": "RF-unknown-1", "refund_id": "50000", "refund_status": "SUCCESS",
              "amount": {"total": 100, "refund": 100, "payer_total": 100, "payer_refund": 100}}
    body = fake.pay.notification_body("REFUND.SUCCESS", "退款成功", "refund", refund)[1]
    refused(post(client, body, signed(fake, body), REFUND_NOTIFY), 404)  # not ours
    refused(post(client, body, signed(fake, body, key=new_rsa_key()), REFUND_NOTIFY), 401)
    wrong = fake.pay.notification_body("REFUND.SUCCESS", "退款成功", "refund", {**refund, "mchid": "1"})[1]
    refused(post(client, wrong, signed(fake, wrong), REFUND_NOTIFY), 400)
    assert aead.ALGORITHM == "AEAD_AES_256_GCM"
    assert verify_ledger(app) == []
