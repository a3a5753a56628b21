"""docs/api/cloud.openapi.yaml's driver routes against the app: every documented driver
operation is walked through, and every answer (errors included, with their headers) is
checked against the document; the app has no driver route the document lacks; every error
code the driver API can answer is documented, with a zh-CN and an English message."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from cloud.api.driver_messages import CATALOG, LANGUAGES, message
from cloud.db import db
from cloud.drivers.models import Driver, DriverSession
from cloud.drivers.tokens import digest
from cloud.fakes.server import FakeServer
from tests.docs.openapi_support import ResponseChecker, load_spec, operations
from tests.drivers_api.support import BASE, auth

SPEC = load_spec("cloud")
DRIVER_OPS = {(p, m) for p, m in operations(SPEC) if "drivers" in SPEC["paths"][p][m].get("tags", [])}


class Walk:
    def __init__(self, client: FlaskClient) -> None:
        self.client, self.check = client, ResponseChecker(SPEC)

    def __call__(self, method: str, path: str, expect: int, code: str | None = None, **kw: Any) -> Any:
        resp = self.client.open(path, method=method, **kw)
        body = resp.get_json(silent=True)
        assert resp.status_code == expect, f"{method} {path}: {resp.status_code} {resp.data[:300]!r}"
        self.check(path=path.split("?")[0], method=method, status=resp.status_code, content_type=resp.content_type,
                   body=body)
        documented = self.check.response(path.split("?")[0], method.lower(), resp.status_code).get("headers", {})
        for name in documented:
            if name != "Retry-After" or resp.status_code == 429:
                assert name in resp.headers, f"{method} {path} {expect}: no {name} header"
        if expect >= 400:
            assert resp.headers["Content-Language"] in LANGUAGES
            assert body["error"]["code"] == code, body
        return body


def test_every_driver_operation_as_documented(app: Flask, client: FlaskClient, wechat: FakeServer) -> None:
    x = Walk(client)
    login, pp = f"{BASE}/login", f"{BASE}/payment-password"
    x("POST", login, 400, "invalid_request", data=b"{", content_type="application/json")
    x("POST", login, 400, "invalid_request", json={})
    x("POST", login, 400, "invalid_request", json={"code": 5})
    x("POST", login, 400, "wechat_code_invalid", json={"code": "nope"})
    x("POST", login, 413, "payload_too_large", json={"code": "x" * 20_000})
    wechat.login.fail_next(45011)
    x("POST", login, 429, "wechat_quota", json={"code": wechat.login.issue_code("alice")})
    wechat.login.fail_next(-1)
    x("POST", login, 503, "wechat_busy", json={"code": wechat.login.issue_code("alice")})
    wechat.login.fail_next(40226)
    x("POST", login, 403, "wechat_user_blocked", json={"code": wechat.login.issue_code("alice")})
    wechat.login.fail_next(40099)
    x("POST", login, 502, "wechat_login_failed", json={"code": wechat.login.issue_code("alice")})
    made = x("POST", login, 201, json={"code": wechat.login.issue_code("alice")})
    x("POST", login, 200, json={"code": wechat.login.issue_code("alice")})
    h = auth(made["token"])

    me = f"{BASE}/me"
    x("GET", me, 401, "unauthorized")
    x("GET", me, 200, headers=h)
    x("PATCH", me, 200, json={"nickname": "小明", "phone": "13800138000"}, headers=h)
    x("PATCH", me, 400, "phone_invalid", json={"phone": "123"}, headers=h)
    x("PATCH", me, 400, "invalid_request", json={"nick": "x"}, headers=h)
    x("PATCH", me, 413, "payload_too_large", json={"nickname": "x" * 20_000}, headers=h)
    x("PATCH", me, 401, "unauthorized", json={"nickname": "x"})

    x("POST", f"{pp}/verify", 409, "payment_password_not_set", json={"password": "135790"}, headers=h)
    x("PUT", pp, 409, "payment_password_not_set", json={"old_password": "135790", "new_password": "246801"}, headers=h)
    x("POST", pp, 400, "payment_password_too_simple", json={"password": "123456"}, headers=h)
    x("POST", pp, 400, "payment_password_format", json={"password": "12345"}, headers=h)
    x("POST", pp, 201, json={"password": "135790"}, headers=h)
    x("POST", pp, 409, "payment_password_exists", json={"password": "135790"}, headers=h)
    x("POST", f"{pp}/verify", 200, json={"password": "135790"}, headers=h)
    x("PUT", pp, 200, json={"old_password": "135790", "new_password": "246801"}, headers=h)
    for _ in range(app.config["PAYMENT_PASSWORD_MAX_FAILURES"]):
        x("POST", f"{pp}/verify", 403, "payment_password_wrong", json={"password": "135790"}, headers=h)
    x("POST", f"{pp}/verify", 429, "payment_password_locked", json={"password": "246801"}, headers=h)
    x("PUT", pp, 429, "payment_password_locked", json={"old_password": "246801", "new_password": "135790"}, headers=h)
    for method, path in (("POST", pp), ("PUT", pp), ("POST", f"{pp}/verify")):
        x(method, path, 401, "unauthorized", json={"password": "135790"})
        x(method, path, 413, "payload_too_large", json={"password": "1" * 20_000}, headers=h)

    other = x("POST", login, 201, json={"code": wechat.login.issue_code("bob")})["token"]
    x("POST", f"{BASE}/logout", 400, "invalid_request", json={"everywhere": "yes"}, headers=auth(other))
    x("POST", f"{BASE}/logout", 413, "payload_too_large", json={"x": "y" * 20_000}, headers=auth(other))
    x("POST", f"{BASE}/logout", 200, headers=auth(other))
    x("POST", f"{BASE}/logout", 401, "unauthorized", headers=auth(other))
    with app.app_context(), db.transaction() as s:
        s.execute(update(DriverSession).where(DriverSession.token_sha256 == digest(made["token"]))
                  .values(expires_at=1))
    x("GET", me, 401, "token_expired", headers=h)
    late = x("POST", login, 200, json={"code": wechat.login.issue_code("alice")})["token"]
    with app.app_context(), db.transaction() as s:
        s.execute(update(Driver).where(Driver.id == made["driver"]["id"]).values(blocked=True))
    x("GET", me, 403, "driver_blocked", headers=auth(late))
    x("PATCH", me, 403, "driver_blocked", json={"nickname": "x"}, headers=auth(late))
    x("POST", f"{BASE}/logout", 403, "driver_blocked", headers=auth(late))
    for method, path in (("POST", pp), ("PUT", pp), ("POST", f"{pp}/verify")):
        x(method, path, 403, "driver_blocked", json={"password": "135790"}, headers=auth(late))
    x("POST", login, 403, "driver_blocked", json={"code": wechat.login.issue_code("alice")})

    # operations another folder walks (named by `x-walked-in`, e.g. tests/charging/test_openapi_walk.py)
    unseen = {(p, m) for p, m in DRIVER_OPS if "x-walked-in" not in SPEC["paths"][p][m]
              and not any((p, m, c) in x.check.seen for c in range(200, 300))}
    assert not unseen, f"driver operations never answered with success: {sorted(unseen)}"


def test_not_configured_is_documented(tmp_path, monkeypatch) -> None:
    from cloud import create_app

    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'a.sqlite'}"})
    Walk(app.test_client())("POST", f"{BASE}/login", 503, "wechat_not_configured", json={"code": "abc"})


def test_the_app_has_no_undocumented_driver_route(app: Flask) -> None:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.driver."):
            for m in rule.methods - {"HEAD", "OPTIONS"}:
                # Flask's <converter:name> is OpenAPI's {name}
                routes.add((re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule), m.lower()))
    assert routes == DRIVER_OPS


def test_security_of_the_driver_operations() -> None:
    assert SPEC["components"]["securitySchemes"]["driverToken"]["scheme"] == "bearer"
    for path, method in DRIVER_OPS:
        op = SPEC["paths"][path][method]
        if op["operationId"] == "driverLogin":
            assert op["security"] == []
        else:
            assert op["security"] == [{"driverToken": []}], (path, method)
            assert "401" in op["responses"]
    from cloud.api.driver_auth import OPEN_DRIVER_ENDPOINTS

    assert OPEN_DRIVER_ENDPOINTS == {"api.driver.login"}


def test_every_code_is_documented_and_worded_in_both_languages() -> None:
    enum = set(SPEC["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"])
    codes = {c for c in CATALOG if c != "payment_password_wrong_locked"}
    assert codes <= enum, codes - enum
    for code in CATALOG:
        zh = message(code, "zh-CN", field="phone", attempts_left=2, retry_after_ms=90_000)
        en = message(code, "en", field="phone", attempts_left=2, retry_after_ms=90_000)
        assert zh and en and zh != en and "{" not in zh + en
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh), code
        assert en.isascii(), code


@pytest.mark.parametrize("header, lang", [
    (None, "zh-CN"), ("zh-CN", "zh-CN"), ("zh", "zh-CN"), ("zh-TW,zh;q=0.9", "zh-CN"), ("en", "en"),
    ("en-US,en;q=0.9,zh-CN;q=0.8", "en"), ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"), ("fr-FR", "zh-CN"),
    ("fr;q=1, en;q=0.5", "en"), ("*", "zh-CN"), ("!!!garbage;;q=x", "zh-CN"),
])
def test_language_by_accept_language(client: FlaskClient, header: str | None, lang: str) -> None:
    headers = {"Accept-Language": header} if header else {}
    resp = client.get(f"{BASE}/me", headers=headers)
    assert resp.status_code == 401 and resp.headers["Content-Language"] == lang
    assert "Accept-Language" in resp.headers["Vary"]
    text = resp.json["error"]["message"]
    assert (text == "请先登录。") is (lang == "zh-CN")
