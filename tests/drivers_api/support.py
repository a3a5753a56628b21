"""Helpers of the driver API tests: log a WeChat user in, call with their token."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from cloud.fakes.server import FakeServer

APPID = "wx0123456789abcdef"
SECRET = "fake-app-secret-0123456789abcdef"
BASE = "/api/v1/driver"


def login(client: FlaskClient, wechat: FakeServer, user: str, **kw: Any) -> TestResponse:
    assert wechat.login is not None
    return client.post(f"{BASE}/login", json={"code": wechat.login.issue_code(user)}, **kw)


def token_of(client: FlaskClient, wechat: FakeServer, user: str) -> str:
    resp = login(client, wechat, user)
    assert resp.status_code in (200, 201), resp.get_data(as_text=True)
    return str(resp.json["token"])  # type: ignore[index]


def auth(token: str, lang: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if lang:
        headers["Accept-Language"] = lang
    return headers


def error_code(resp: TestResponse) -> str:
    body = resp.get_json(silent=True)
    assert isinstance(body, dict) and "error" in body, (resp.status_code, resp.get_data(as_text=True)[:300])
    return str(body["error"]["code"])
