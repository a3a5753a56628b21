"""Helpers of the wallet tests: the cloud app served over real HTTP (the fake WeChat Pay
delivers its notifications there), drivers logged in through the fake WeChat login, and
notifications made and signed as WeChat Pay makes them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from cloud.db import db
from cloud.fakes.server import FakeServer
from cloud.ledger import service as ledger
from cloud.payments.wechatpay import signing

BASE = "/api/v1/driver"
NOTIFY_URL = "https://cloud.example.cn/api/v1/pay/wechat/notify"
REFUND_NOTIFY_URL = "https://cloud.example.cn/api/v1/pay/wechat/refund-notify"


class AppServer:
    """A threaded HTTP server for an app given after it starts (the app's settings need the
    fake's address, and the fake needs this server's)."""

    def __init__(self) -> None:
        self.app: Flask | None = None
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        assert self.app is not None
        return self.app(environ, start_response)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> AppServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def auth(token: str, lang: str | None = None) -> dict[str, str]:
    h = {"Authorization": f"Bearer {token}"}
    if lang:
        h["Accept-Language"] = lang
    return h


def login(client: FlaskClient, fake: FakeServer, user: str) -> tuple[str, int]:
    assert fake.login is not None
    resp = client.post(f"{BASE}/login", json={"code": fake.login.issue_code(user)})
    assert resp.status_code in (200, 201), resp.get_data(as_text=True)
    return resp.json["token"], resp.json["driver"]["id"]  # type: ignore[index]


def error_code(resp: Any) -> str:
    body = resp.get_json(silent=True)
    assert isinstance(body, dict) and "error" in body, (resp.status_code, resp.get_data(as_text=True)[:300])
    return str(body["error"]["code"])


def wait_until(cond: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def balances(app: Flask, driver_id: int) -> ledger.Balances:
    with app.app_context():
        s = db.session
        try:
            return ledger.balances(s, str(driver_id))
        finally:
            s.rollback()


def verify_ledger(app: Flask) -> list[str]:
    with app.app_context():
        s = db.session
        try:
            return ledger.verify(s)
        finally:
            s.rollback()


def payment_notification(fake: FakeServer, no: str, /, **changes: Any) -> bytes:
    """The body WeChat Pay would send for a paid order, with `changes` to its content
    (e.g. amount, mchid), encrypted with the APIv3 key."""
    assert fake.pay is not None
    content = fake.pay.transaction(fake.pay.orders[no])
    for key, value in changes.items():
        content[key] = value
    return fake.pay.notification_body("TRANSACTION.SUCCESS", "支付成功", "transaction", content)[1]


def signed(fake: FakeServer, body: bytes, *, key: Any = None, ts: int | None = None) -> dict[str, str]:
    """Fresh WeChat Pay signature headers for `body` (another key, another time if asked)."""
    assert fake.pay is not None
    if key is None and ts is None:
        headers = fake.pay.notification_headers(body)
    else:
        stamp = str(int(time.time()) if ts is None else ts)
        nonce = signing.new_nonce()
        headers = {"Wechatpay-Timestamp": stamp, "Wechatpay-Nonce": nonce,
                   "Wechatpay-Signature": signing.sign(key or fake.pay.signing_key,
                                                       signing.response_message(stamp, nonce, body)),
                   "Wechatpay-Serial": fake.pay.signing_serial,
                   "Wechatpay-Signature-Type": signing.SCHEMA}
    return {"Content-Type": "application/json", **headers}


def fail_body(resp: Any) -> dict[str, Any]:
    return json.loads(resp.get_data())  # type: ignore[no-any-return]
