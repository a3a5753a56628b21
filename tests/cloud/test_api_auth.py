"""Who may use the cloud's HTTP side: API tokens (hashed at rest, revocable) for the API and
not the console, the secret key and the private keys the service refuses to start with."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from cloud import create_app
from cloud.config import ConfigError
from cloud.db import db
from cloud.models import ApiToken
from cloud.pki.hierarchy import Pki


def _create(app: Flask, name: str = "tool") -> str:
    result = app.test_cli_runner().invoke(args=["api-token", "create", name, "--json"])
    assert result.exit_code == 0, result.output
    return str(json.loads(result.output)["token"])


def test_api_wants_a_live_token_stored_only_as_a_hash(app: Flask, client: FlaskClient) -> None:
    assert client.get("/api/v1/stations").status_code == 401
    token = _create(app)
    ok = client.get("/api/v1/stations", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.json == {"stations": []}
    with app.app_context():
        rows = db.session.scalars(select(ApiToken)).all()
        dump = json.dumps([[r.name, r.token_sha256] for r in rows])
    assert token not in dump and token[4:] not in dump
    # lower-case scheme works; other schemes, a truncated or padded token do not
    assert client.get("/api/v1/stations", headers={"Authorization": f"bearer {token}"}).status_code == 200
    for bad in (f"Token {token}", f"Bearer {token[:-1]}", f"Bearer {token}x", "Bearer ", "Bearer"):
        assert client.get("/api/v1/stations", headers={"Authorization": bad}).status_code == 401, bad
    listed = app.test_cli_runner().invoke(args=["api-token", "list"])
    assert "tool" in listed.output and "live" in listed.output and token not in listed.output
    # revoked: refused at the next request
    assert app.test_cli_runner().invoke(args=["api-token", "revoke", "tool"]).exit_code == 0
    assert client.get("/api/v1/stations", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert app.test_cli_runner().invoke(args=["api-token", "revoke", "tool"]).exit_code != 0
    odd = app.test_cli_runner().invoke(args=["api-token", "revoke", "²"])  # str.isdigit, not int()
    assert odd.exit_code == 1 and "no live API token" in odd.output, (odd.exception, odd.output)


def test_open_endpoints_need_no_token(app: Flask, client: FlaskClient, tmp_path: Path) -> None:
    assert client.get("/api/v1/health").status_code == 200
    assert client.get("/api/v1/ca").status_code == 503  # no CA yet, but not 401
    r = client.post("/api/v1/provision", json={"v": 1, "token": "t", "csr_pem": "c"})
    assert r.status_code == 503 and r.json["error"]["code"] == "ca_unavailable"


def test_console_pages_want_an_operator_not_an_api_token(app: Flask, client: FlaskClient) -> None:
    """The console logs operators in (tests/console); API tokens are for the JSON API only."""
    from tests.console.support import login, make_operator

    r = client.get("/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    token = _create(app, "tool")
    assert client.get("/", headers={"Authorization": f"Bearer {token}"}).status_code == 302
    make_operator(app, "root", "admin")
    assert login(client, "root", token).status_code == 401  # a token is no password
    assert login(client, "root").status_code == 303 and client.get("/").status_code == 200


def test_a_forged_session_cookie_is_refused(app: Flask, tmp_path: Path) -> None:
    from flask.sessions import SecureCookieSessionInterface

    other = create_app({"TESTING": True, "SECRET_KEY": "another-secret-key-0123456789",
                        "DATABASE_URL": f"sqlite:///{tmp_path / 'other.sqlite'}"})
    forged = SecureCookieSessionInterface().get_signing_serializer(other).dumps({"op": "made-up"})
    c = app.test_client()
    c.set_cookie("session", forged)
    assert c.get("/").status_code == 302


@pytest.mark.parametrize("secret", [None, "dev", "changeme", "short"])
def test_a_development_secret_key_is_refused_outside_testing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secret: str | None
) -> None:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path))
    if secret is None:
        monkeypatch.delenv("JC_SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("JC_SECRET_KEY", secret)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()
    monkeypatch.setenv("JC_SECRET_KEY", "a0" * 32)
    assert create_app().config["SECRET_KEY"] == "a0" * 32


def test_the_service_refuses_a_key_others_can_read(tmp_path: Path) -> None:
    Pki.init(tmp_path / "ca")
    cfg = {"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite'}", "CA_DIR": str(tmp_path / "ca"),
           "CLOUD_KEY_FILE": str(tmp_path / "cloud.key")}
    create_app(cfg)
    for mode in (0o640, 0o604):
        os.chmod(tmp_path / "ca" / "station" / "ca.key", mode)
        with pytest.raises(ConfigError, match="chmod 600"):
            create_app(cfg)
    os.chmod(tmp_path / "ca" / "station" / "ca.key", 0o600)
    (tmp_path / "cloud.key").write_text("x")
    os.chmod(tmp_path / "cloud.key", 0o644)
    with pytest.raises(ConfigError, match="cloud.key"):
        create_app(cfg)


def test_the_api_neither_reads_nor_refreshes_the_consoles_cookie(app: Flask, client: FlaskClient) -> None:
    """A console login's cookie is no API credential, an API answer never sets a cookie, and
    the login stands after API calls (cloud/app.py SessionInterface opens no session under
    /api/, to save the poll's CPU: this holds that nothing a user sees changed with it)."""
    from tests.console.support import login, make_operator

    make_operator(app, "root", "admin")
    assert login(client, "root").status_code == 303 and client.get("/").status_code == 200
    for path in ("/api/v1/health", "/api/v1/stations", "/api/v1/driver/me"):
        r = client.get(path)
        assert "Set-Cookie" not in r.headers, path
        assert r.status_code in (200, 401), path
    assert client.get("/api/v1/stations").status_code == 401  # the cookie is sent, and ignored
    assert client.get("/").status_code == 200  # the console's login stands
