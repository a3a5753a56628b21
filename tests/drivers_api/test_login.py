"""Logging in with WeChat, through our code2Session client against the fake WeChat over HTTP:
the first login makes the driver, later ones find them, a code works once, and each way
WeChat refuses becomes its own error code."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from cloud import create_app
from cloud.db import db
from cloud.drivers.models import Driver, DriverSession
from cloud.drivers.tokens import digest
from cloud.fakes.server import FakeServer
from tests.drivers_api.conftest import make_app
from tests.drivers_api.support import APPID, BASE, auth, error_code, login


def test_first_login_creates_the_driver_then_reuses_them(app: Flask, client: FlaskClient, wechat: FakeServer) -> None:
    first = login(client, wechat, "alice")
    assert first.status_code == 201, first.get_data(as_text=True)
    body = first.json
    assert body["created"] is True and body["token_type"] == "Bearer" and body["token"].startswith("jcd_")
    assert first.headers["Cache-Control"] == "no-store"
    driver = body["driver"]
    assert driver["nickname"] is None and driver["has_payment_password"] is False
    assert "openid" not in driver and "session_key" not in first.get_data(as_text=True)

    again = login(client, wechat, "alice")
    assert again.status_code == 200 and again.json["created"] is False
    assert again.json["driver"]["id"] == driver["id"] and again.json["token"] != body["token"]
    assert again.json["driver"]["last_login_at"] >= driver["last_login_at"]
    other = login(client, wechat, "bob")
    assert other.status_code == 201 and other.json["driver"]["id"] != driver["id"]

    # both of alice's tokens work; only hashes are stored
    for tok in (body["token"], again.json["token"]):
        assert client.get(f"{BASE}/me", headers=auth(tok)).json["id"] == driver["id"]
    with app.app_context():
        s = db.session
        assert s.scalar(select(func.count()).select_from(Driver)) == 2
        row = s.scalars(select(Driver).where(Driver.id == driver["id"])).one()
        assert (row.appid, row.openid) == (APPID, wechat.login.openid_for("alice"))
        hashes = set(s.scalars(select(DriverSession.token_sha256)))
    assert digest(body["token"]) in hashes and body["token"] not in hashes


def test_a_code_works_once(client: FlaskClient, wechat: FakeServer) -> None:
    code = wechat.login.issue_code("carol")
    assert client.post(f"{BASE}/login", json={"code": code}).status_code == 201
    again = client.post(f"{BASE}/login", json={"code": code})
    assert again.status_code == 400 and error_code(again) == "wechat_code_used"
    made_up = client.post(f"{BASE}/login", json={"code": "0a3Bc4dEfGh5iJkL6mNoP7qRsT"})
    assert made_up.status_code == 400 and error_code(made_up) == "wechat_code_invalid"
    # not even shaped like a code: refused without asking WeChat
    asked = len(wechat.login.exchanges)
    odd = client.post(f"{BASE}/login", json={"code": "a b/c"})
    assert odd.status_code == 400 and error_code(odd) == "wechat_code_invalid"
    assert len(wechat.login.exchanges) == asked


def test_unionid_is_kept(app: Flask, client: FlaskClient, wechat: FakeServer) -> None:
    code = wechat.login.issue_code(openid="oTestOpenid000000000000000009", unionid="oUnionAAA")
    resp = client.post(f"{BASE}/login", json={"code": code})
    with app.app_context():
        row = db.session.get(Driver, resp.json["driver"]["id"])
        assert row is not None and row.unionid == "oUnionAAA"


@pytest.mark.parametrize("errcode, status, code, retry", [
    (-1, 503, "wechat_busy", True),
    (45011, 429, "wechat_quota", True),
    (40226, 403, "wechat_user_blocked", False),
    (40029, 400, "wechat_code_invalid", False),
    (40163, 400, "wechat_code_used", False),
    (40099, 502, "wechat_login_failed", False),
])
def test_wechat_errors_map_to_stable_codes(app: Flask, client: FlaskClient, wechat: FakeServer,
                                           errcode: int, status: int, code: str, retry: bool) -> None:
    wechat.login.fail_next(errcode)
    resp = login(client, wechat, "dave")
    assert resp.status_code == status and error_code(resp) == code
    assert ("Retry-After" in resp.headers) is retry
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Driver)) == 0


def test_wrong_app_secret_is_a_login_failure(tmp_path: Path, db_url: str, wechat: FakeServer,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = make_app(tmp_path, db_url, wechat, WECHAT_SECRET="not-the-secret")
    resp = login(app.test_client(), wechat, "erin")
    assert resp.status_code == 502 and error_code(resp) == "wechat_login_failed"
    assert wechat.login.exchanges[-1][1] == 40125


def test_wechat_unreachable_is_503(tmp_path: Path, db_url: str, wechat: FakeServer,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = make_app(tmp_path, db_url, wechat, WECHAT_API_BASE_URL=dead)
    resp = login(app.test_client(), wechat, "frank")
    assert resp.status_code == 503 and error_code(resp) == "wechat_unavailable"
    assert resp.headers["Retry-After"]


def test_without_wechat_settings_login_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'a.sqlite'}"})
    resp = app.test_client().post(f"{BASE}/login", json={"code": "abc"})
    assert resp.status_code == 503 and error_code(resp) == "wechat_not_configured"


def test_concurrent_first_logins_make_one_driver(app: Flask, wechat: FakeServer) -> None:
    """Two phones of one new user log in at once: one driver, two tokens."""
    from concurrent.futures import ThreadPoolExecutor

    codes = [wechat.login.issue_code("gina") for _ in range(6)]

    def go(code: str) -> int:
        return app.test_client().post(f"{BASE}/login", json={"code": code}).status_code

    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(go, codes))
    assert sorted(statuses) == [200] * 5 + [201], statuses
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Driver)) == 1
        assert db.session.scalar(select(func.count()).select_from(DriverSession)) == 6
