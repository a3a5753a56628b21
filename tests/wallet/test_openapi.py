"""docs/api/cloud.openapi.yaml's wallet routes and payment callbacks against the app: every
operation walked through with the real client and the fake WeChat Pay, every answer (errors
too) checked against the document, each with a success seen; the error codes worded."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud.api.driver_messages import LANGUAGES
from cloud.fakes.server import FakeServer
from cloud.fakes.wechatpay import Faults
from tests.docs.openapi_support import ResponseChecker, load_spec, operations
from tests.wallet.support import BASE, auth, login, payment_notification, signed

SPEC = load_spec("cloud")
TRANSFER_NOTIFY = ("/api/v1/pay/wechat/transfer-notify", "post")  # walked in tests/sharing/test_transfer_notify.py
OURS = {(p, m) for p, m in operations(SPEC)
        if p.startswith(("/api/v1/driver/wallet", "/api/v1/pay/"))} - {TRANSFER_NOTIFY}


class Walk:
    def __init__(self, client: FlaskClient) -> None:
        self.client, self.check = client, ResponseChecker(SPEC)

    def __call__(self, method: str, path: str, expect: int, code: str | None = None, **kw: Any) -> Any:
        resp = self.client.open(path, method=method, **kw)
        assert resp.status_code == expect, f"{method} {path}: {resp.status_code} {resp.data[:300]!r}"
        body = resp.get_json(silent=True) if resp.data else None
        bare = path.split("?")[0]
        if resp.status_code == 204:
            assert resp.data == b""
            self.check.response(bare, method.lower(), 204)
            self.check.seen.add((self.check.template(bare), method.lower(), 204))
            return None
        self.check(path=bare, method=method, status=resp.status_code, content_type=resp.content_type, body=body)
        if expect >= 400 and "/driver/" in path:
            assert resp.headers["Content-Language"] in LANGUAGES and body["error"]["code"] == code, body
        if expect >= 400 and "/pay/" in path:
            assert body["code"] == "FAIL"
        return body


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the rule, not the database, is tested
def test_every_wallet_operation_as_documented(app: Flask, client: FlaskClient, fake: FakeServer) -> None:
    assert fake.pay is not None
    x = Walk(client)
    token, _ = login(client, fake, "walker")
    h = auth(token)
    w, rc, rf = f"{BASE}/wallet", f"{BASE}/wallet/recharges", f"{BASE}/wallet/refunds"

    x("GET", w, 401, "unauthorized")
    assert x("GET", w, 200, headers=h)["balance_fen"] == 0
    x("POST", rc, 400, "recharge_amount_invalid", json={"amount_fen": 0}, headers=h)
    x("POST", rc, 400, "invalid_request", json={"amount_fen": 5, "x": 1}, headers=h)
    x("POST", rc, 413, "payload_too_large", json={"amount_fen": 5, "x": "y" * 20_000}, headers=h)
    x("POST", rc, 401, "unauthorized", json={"amount_fen": 5})
    fake.pay.faults = Faults(fail_with=(500, "SYSTEM_ERROR"))
    x("POST", rc, 503, "payment_unavailable", json={"amount_fen": 5}, headers=h)
    fake.pay.faults = Faults(fail_with=(400, "PARAM_ERROR"))
    x("POST", rc, 502, "payment_failed", json={"amount_fen": 5}, headers=h)
    fake.pay.faults = Faults()
    fake.pay.notify_origin = "http://127.0.0.1:9"
    made = x("POST", rc, 201, json={"amount_fen": 5000}, headers=h)
    # the H5 app's channels: an H5 payment's page; the official account's JSAPI needs its login
    h5 = x("POST", rc, 201, json={"amount_fen": 100, "channel": "h5"}, headers=h)
    assert h5["channel"] == "h5" and h5["h5_url"].startswith(fake.url)
    x("POST", rc, 409, "payment_channel_unavailable", json={"amount_fen": 100, "channel": "oa_jsapi"}, headers=h)
    x("POST", rc, 400, "invalid_request", json={"amount_fen": 100, "channel": "card"}, headers=h)
    fake.pay.pay(made["recharge_id"])
    x("GET", rc, 200, headers=h)
    x("GET", f"{rc}?limit=1&before={made['recharge_id']}", 200, headers=h)
    x("GET", f"{rc}?limit=0", 400, "invalid_request", headers=h)
    x("GET", f"{rc}/{made['recharge_id']}", 200, headers=h)
    x("GET", f"{rc}/TU-nope", 404, "not_found", headers=h)

    note = "/api/v1/pay/wechat/notify"
    body = payment_notification(fake, made["recharge_id"])
    x("POST", note, 401, data=body, headers={"Content-Type": "application/json"})
    x("POST", note, 400, data=b"[]", headers=signed(fake, b"[]"))
    other = payment_notification(fake, made["recharge_id"], out_trade_no="TU20260101FFFFFFFF")
    x("POST", note, 404, data=other, headers=signed(fake, other))
    x("POST", note, 413, data=b"x" * 70_000, headers={"Content-Type": "application/json"})
    x("POST", note, 204, data=body, headers=signed(fake, body))

    x("POST", rf, 400, "invalid_request", json={"amount_fen": "all"}, headers=h)
    x("POST", rf, 409, "refund_amount_too_large", json={"amount_fen": 5001}, headers=h)
    x("POST", rf, 401, "unauthorized", json={})
    fake.pay.notify_origin = None  # the refund's notification comes to the test itself below
    fake.pay.refund_delay_s = 60.0
    refund = x("POST", rf, 202, json={"amount_fen": 2000}, headers=h)
    x("GET", rf, 200, headers=h)
    x("GET", f"{rf}?limit=101", 400, "invalid_request", headers=h)
    part = refund["parts"][0]["out_refund_no"]
    rec = fake.pay.refunds[part]
    rec.status = "SUCCESS"
    content = fake.pay.refund_view(rec, for_notification=True)
    rbody = fake.pay.notification_body("REFUND.SUCCESS", "退款成功", "refund", content)[1]
    rnote = "/api/v1/pay/wechat/refund-notify"
    x("POST", rnote, 401, data=rbody, headers={"Content-Type": "application/json"})
    x("POST", rnote, 204, data=rbody, headers=signed(fake, rbody))
    assert x("GET", rf, 200, headers=h)["refunds"][0]["state"] == "success"
    x("POST", rf, 202, json={}, headers=h)
    x("POST", rf, 409, "nothing_to_refund", headers=h)
    client.post(f"{BASE}/payment-password", json={"password": "135790"}, headers=h)
    x("POST", rf, 403, "payment_password_required", json={"amount_fen": 1}, headers=h)

    stmt = x("GET", f"{w}/statement", 200, headers=h)["entries"]
    assert stmt and x("GET", f"{w}/statement?limit=1&before={stmt[0]['id']}", 200, headers=h)["entries"]
    x("GET", f"{w}/statement?before=x", 400, "invalid_request", headers=h)
    x("GET", f"{w}/statement", 401, "unauthorized")

    unseen = {(p, m) for p, m in OURS if not any((p, m, c) in x.check.seen for c in range(200, 300))}
    assert not unseen, f"operations never answered with success: {sorted(unseen)}"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the rule, not the database, is tested
def test_the_wallet_routes_are_all_documented(app: Flask) -> None:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/v1/driver/wallet", "/api/v1/pay/")):
            for m in rule.methods - {"HEAD", "OPTIONS"}:
                routes.add((rule.rule.replace("<recharge_id>", "{recharge_id}"), m.lower()))
    assert routes == OURS | {TRANSFER_NOTIFY}
