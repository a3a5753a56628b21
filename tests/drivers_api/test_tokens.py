"""Driver tokens: what they open and what they never open. A driver token is not a tool's API
token and a tool token is not a driver; expiry, logout (one or everywhere), blocking and the
cap on live logins each take a token away at once."""

from __future__ import annotations

import json

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from cloud.db import db
from cloud.drivers import service
from cloud.drivers.models import DriverSession
from cloud.drivers.tokens import digest
from cloud.fakes.server import FakeServer
from cloud.models import now_ms
from tests.drivers_api.support import BASE, auth, error_code, login, token_of

DRIVER_GETS = (f"{BASE}/me",)


def _tool_token(app: Flask, name: str = "tool") -> str:
    result = app.test_cli_runner().invoke(args=["api-token", "create", name, "--json"])
    assert result.exit_code == 0, result.output
    return str(json.loads(result.output)["token"])


def test_driver_routes_want_a_driver_token(app: Flask, client: FlaskClient, wechat: FakeServer) -> None:
    tool = _tool_token(app)
    driver = token_of(client, wechat, "alice")
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic x"}, auth("jcd_made-up"),
                    auth(tool), auth(driver[:-1]), auth(driver + "x"), auth("jcd_" + "A" * 500),
                    {"Authorization": f"Token {driver}"}):
        resp = client.get(f"{BASE}/me", headers=headers)
        assert resp.status_code == 401 and error_code(resp) == "unauthorized", headers
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    # the tool token does not even reach the writes
    assert client.patch(f"{BASE}/me", json={"nickname": "x"}, headers=auth(tool)).status_code == 401
    assert client.post(f"{BASE}/payment-password", json={"password": "135790"}, headers=auth(tool)).status_code == 401
    assert client.get(f"{BASE}/me", headers=auth(driver)).status_code == 200


def test_tool_routes_refuse_driver_tokens(app: Flask, client: FlaskClient, wechat: FakeServer) -> None:
    driver = token_of(client, wechat, "alice")
    for path in ("/api/v1/stations", "/api/v1/stations/S1"):
        resp = client.get(path, headers=auth(driver))
        assert resp.status_code == 401 and error_code(resp) == "unauthorized", path
    # nor does it open the console (operators log in there: tests/console)
    assert client.get("/", headers=auth(driver)).status_code == 302
    tool = _tool_token(app)
    assert client.get("/api/v1/stations", headers=auth(tool)).status_code == 200


def test_expired_token(app: Flask, client: FlaskClient, wechat: FakeServer) -> None:
    token = token_of(client, wechat, "alice")
    with app.app_context(), db.transaction() as s:
        s.execute(update(DriverSession).where(DriverSession.token_sha256 == digest(token))
                  .values(expires_at=now_ms() - 1))
    resp = client.get(f"{BASE}/me", headers=auth(token))
    assert resp.status_code == 401 and error_code(resp) == "token_expired"
    # a new login gives a working token again
    assert client.get(f"{BASE}/me", headers=auth(token_of(client, wechat, "alice"))).status_code == 200


def test_token_lifetime_is_the_setting(app: Flask, client: FlaskClient, wechat: FakeServer) -> None:
    before = now_ms()
    body = login(client, wechat, "alice").json
    ttl = app.config["DRIVER_TOKEN_TTL_S"] * 1000
    assert before + ttl <= body["expires_at"] <= now_ms() + ttl


def test_logout_revokes_the_token_used_or_all(app: Flask, client: FlaskClient, wechat: FakeServer) -> None:
    phone, tablet, third = (token_of(client, wechat, "alice") for _ in range(3))
    other = token_of(client, wechat, "bob")
    resp = client.post(f"{BASE}/logout", headers=auth(phone))
    assert resp.status_code == 200 and resp.json == {"revoked": 1}
    assert client.get(f"{BASE}/me", headers=auth(phone)).status_code == 401
    assert client.post(f"{BASE}/logout", headers=auth(phone)).status_code == 401  # twice: it is gone
    assert client.get(f"{BASE}/me", headers=auth(tablet)).status_code == 200
    resp = client.post(f"{BASE}/logout", json={"everywhere": True}, headers=auth(tablet))
    assert resp.json == {"revoked": 2}
    for tok in (tablet, third):
        assert client.get(f"{BASE}/me", headers=auth(tok)).status_code == 401
    assert client.get(f"{BASE}/me", headers=auth(other)).status_code == 200  # bob is not touched
    with app.app_context():
        reasons = sorted(r for r in db.session.scalars(select(DriverSession.revoke_reason)) if r)
    assert reasons == ["logout", "logout_all", "logout_all"]


def test_blocking_refuses_every_token_and_login(app: Flask, client: FlaskClient, wechat: FakeServer) -> None:
    body = login(client, wechat, "mallory").json
    token, driver_id = body["token"], body["driver"]["id"]
    with app.app_context(), db.transaction() as s:
        service.set_blocked(s, driver_id, True, now_ms())
    resp = client.get(f"{BASE}/me", headers=auth(token))
    assert resp.status_code == 401  # revoked when blocked
    again = login(client, wechat, "mallory")
    assert again.status_code == 403 and error_code(again) == "driver_blocked"
    with app.app_context(), db.transaction() as s:
        service.set_blocked(s, driver_id, False, now_ms())
    assert client.get(f"{BASE}/me", headers=auth(token_of(client, wechat, "mallory"))).status_code == 200


def test_blocked_while_a_token_is_live_is_refused(app: Flask, client: FlaskClient, wechat: FakeServer) -> None:
    """Blocked without revoking (e.g. by hand in the database): the flag alone refuses."""
    from cloud.drivers.models import Driver

    body = login(client, wechat, "oscar").json
    with app.app_context(), db.transaction() as s:
        s.execute(update(Driver).where(Driver.id == body["driver"]["id"]).values(blocked=True))
    resp = client.get(f"{BASE}/me", headers=auth(body["token"]))
    assert resp.status_code == 403 and error_code(resp) == "driver_blocked"


def test_live_logins_are_capped(tmp_path, db_url, wechat, monkeypatch) -> None:
    from tests.drivers_api.conftest import make_app

    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = make_app(tmp_path, db_url, wechat, DRIVER_MAX_SESSIONS=2)
    client = app.test_client()
    first, second, third = (token_of(client, wechat, "pat") for _ in range(3))
    assert client.get(f"{BASE}/me", headers=auth(first)).status_code == 401
    assert all(client.get(f"{BASE}/me", headers=auth(t)).status_code == 200 for t in (second, third))


def test_purge_removes_old_sessions_only(app: Flask, client: FlaskClient, wechat: FakeServer) -> None:
    live = token_of(client, wechat, "quinn")
    old = token_of(client, wechat, "quinn")
    client.post(f"{BASE}/logout", headers=auth(old))
    with app.app_context(), db.transaction() as s:
        assert service.purge_sessions(s, now_ms(), keep_ms=3600_000) == 0
        assert service.purge_sessions(s, now_ms() + 7200_000, keep_ms=3600_000) == 1
    assert client.get(f"{BASE}/me", headers=auth(live)).status_code == 200
