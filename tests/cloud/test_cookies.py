"""The console's session cookie (audit finding: not Secure by default): Secure, HttpOnly and
SameSite=Lax outside tests, the H5 app's login cookie too; a web process with Secure off
refuses to start unless ALLOW_PLAIN_HTTP says plain http is meant (the demo)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from cloud import create_app
from cloud.config import ConfigError
from tests.console.conftest import cheap_argon2, make_app  # noqa: F401  (fixture)
from tests.console.support import login, make_operator

SECRET = "a-real-production-secret-0123456789"
OA = {"WECHAT_APPID": "wxapp0000000001", "WECHAT_SECRET": "s" * 32, "WECHAT_OA_APPID": "wxoa00000000001",
      "WECHAT_OA_SECRET": "o" * 32, "WECHAT_OA_AUTHORIZE_URL": "https://open.weixin.qq.com/connect/oauth2/authorize"}


def production(tmp_path: Path, **extra: object) -> Flask:
    return make_app(tmp_path, TESTING=False, SECRET_KEY=SECRET, **extra)


def attributes(set_cookie: str) -> dict[str, str]:
    """A Set-Cookie header's attributes, lower-cased names (value "" for flags)."""
    out = {}
    for part in set_cookie.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        out[name.lower()] = value
    return out


def session_cookie_after_login(app: Flask) -> dict[str, str]:
    make_operator(app, "root", "admin")
    c = app.test_client()
    r = login(c, "root")
    assert r.status_code in (302, 303), r.text
    cookies = [h for h in r.headers.getlist("Set-Cookie") if h.startswith("session=")]
    assert cookies, r.headers
    return attributes(cookies[-1])


def test_production_session_cookie_is_secure_httponly_lax(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = production(tmp_path, **OA)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    got = session_cookie_after_login(app)
    assert "secure" in got and "httponly" in got and got["samesite"] == "Lax", got
    # the H5 app's login cookie, on an http request too (TLS ends at the proxy)
    r = app.test_client().get("/app/login/wechat")
    assert r.status_code == 302
    h5 = attributes(r.headers["Set-Cookie"])
    assert "secure" in h5 and "httponly" in h5 and h5["samesite"] == "Lax", h5


def test_plain_http_refused_unless_said_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    base = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite'}", "CA_DIR": str(tmp_path / "ca"), "SECRET_KEY": SECRET}
    with pytest.raises(ConfigError) as e:
        create_app({**base, "SESSION_COOKIE_SECURE": False})
    assert "SESSION_COOKIE_SECURE" in str(e.value) and "ALLOW_PLAIN_HTTP" in str(e.value)
    # the same from the environment, as the demo's processes get it
    monkeypatch.setenv("JC_SESSION_COOKIE_SECURE", "false")
    with pytest.raises(ConfigError):
        create_app(base)
    monkeypatch.setenv("JC_SESSION_COOKIE_SECURE", "maybe")
    with pytest.raises(ConfigError, match="true or false"):
        create_app(base)
    monkeypatch.setenv("JC_SESSION_COOKIE_SECURE", "false")
    monkeypatch.setenv("JC_ALLOW_PLAIN_HTTP", "true")
    app = production(tmp_path)
    assert app.config["SESSION_COOKIE_SECURE"] is False and app.config["ALLOW_PLAIN_HTTP"] is True
    got = session_cookie_after_login(app)
    assert "secure" not in got and "httponly" in got and got["samesite"] == "Lax", got


def test_tests_default_to_plain_http(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = make_app(tmp_path)
    assert app.config["SESSION_COOKIE_SECURE"] is False and app.config["SESSION_COOKIE_HTTPONLY"] is True
