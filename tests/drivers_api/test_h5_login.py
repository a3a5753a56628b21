"""The H5 app's login through WeChat's web authorisation (cloud/wechat/oauth.py,
cloud/drivers/weblogin.py, cloud/h5): the real client against the local fake over real HTTP,
and the whole redirect flow through the cloud app, hostile callers included."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from cloud import create_app
from cloud.db import db
from cloud.drivers import weblogin
from cloud.drivers.models import Driver
from cloud.fakes.server import FakeServer
from cloud.fakes.wechat_login import FakeWechatLogin, unionid_for
from cloud.fakes.wechat_oauth import FakeWechatOAuth
from cloud.migrate import upgrade
from cloud.wechat.login import CodeUsed, InvalidCode, LoginBusy, LoginUnavailable, QuotaExceeded
from cloud.wechat.oauth import OAuthConfig, OAuthMisconfigured, WechatOAuth
from tests.drivers_api.support import APPID, BASE, SECRET, auth
from tests.support.databases import db_url, engine  # noqa: F401  (fixtures)

OA_APPID, OA_SECRET = "wxfedcba9876543210", "fake-oa-secret-0123456789abcdef"
CALLBACK = "http://localhost/app/login/wechat/callback"


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    with FakeServer(login=FakeWechatLogin(APPID, SECRET), oauth=FakeWechatOAuth(OA_APPID, OA_SECRET)) as server:
        yield server


@pytest.fixture
def oauth(fake: FakeServer) -> WechatOAuth:
    return WechatOAuth(OAuthConfig(OA_APPID, OA_SECRET, api_base_url=fake.url,
                                   authorize_url=fake.url + "/connect/oauth2/authorize", timeout_s=2.0))


def grant(fake: FakeServer, authorize_url: str, user: str, action: str = "allow") -> str:
    """A person on WeChat's (fake) authorisation page: open it, press Allow (or Refuse);
    where WeChat sends the browser back to."""
    page = requests.get(authorize_url.split("#")[0], timeout=5)
    assert page.status_code == 200 and 'id="allow"' not in page.text and "id='allow'" in page.text
    form = dict(parse_qsl(urlsplit(authorize_url).query))
    back = requests.post(fake.url + "/connect/oauth2/authorize", data={**form, "user": user, "action": action},
                         allow_redirects=False, timeout=5)
    assert back.status_code == 302, back.text
    return str(back.headers["Location"])


def code_from(oauth: WechatOAuth, fake: FakeServer, user: str) -> str:
    back = grant(fake, oauth.authorize_url(CALLBACK, "st4te"), user)
    q = parse_qs(urlsplit(back).query)
    assert q["state"] == ["st4te"]
    return q["code"][0]


# --- the client against the fake -------------------------------------------------------------
def test_authorize_url_is_wechats_documented_form(oauth: WechatOAuth, fake: FakeServer) -> None:
    url = oauth.authorize_url("https://cloud.example.cn/app/login/wechat/callback?x=1", "abc_DEF-1")
    assert url.startswith(fake.url + "/connect/oauth2/authorize?appid=" + OA_APPID + "&redirect_uri=")
    assert url.endswith("&response_type=code&scope=snsapi_userinfo&state=abc_DEF-1#wechat_redirect")
    assert parse_qs(urlsplit(url).query)["redirect_uri"] == ["https://cloud.example.cn/app/login/wechat/callback?x=1"]
    for bad_state in ("", "a" * 129, "a b", "<x>"):
        with pytest.raises(ValueError):
            oauth.authorize_url(CALLBACK, bad_state)
    with pytest.raises(ValueError):
        oauth.authorize_url("/relative", "s")


def test_fake_authorisation_page_checks_what_it_receives(oauth: WechatOAuth, fake: FakeServer) -> None:
    def refused(url: str) -> int:
        r = requests.get(url.split("#")[0], timeout=5)
        assert r.status_code == 400
        return int(r.text.split("data-errcode='")[1].split("'")[0])

    good = oauth.authorize_url(CALLBACK, "s1")
    assert refused(good.replace(OA_APPID, "wx0000000000000000")) == 10016
    assert refused(good.replace("scope=snsapi_userinfo", "scope=snsapi_login")) == 10005
    assert refused(good.replace("response_type=code", "response_type=token")) == 10004
    assert refused(oauth.authorize_url("https://evil.example/cb", "s1")) == 10003  # not the authorised domain


def test_login_reads_openid_unionid_and_profile(oauth: WechatOAuth, fake: FakeServer) -> None:
    assert fake.oauth is not None
    user = oauth.login(code_from(oauth, fake, "张三"))
    assert user.openid == fake.oauth.openid_for("张三") and user.unionid == unionid_for("张三")
    assert user.nickname == "张三" and user.avatar_url and user.avatar_url.startswith("https://")
    assert fake.oauth.userinfos == [(user.openid, 0)]


def test_replayed_unknown_and_malformed_codes_are_refused(oauth: WechatOAuth, fake: FakeServer) -> None:
    code = code_from(oauth, fake, "alice")
    oauth.login(code)
    with pytest.raises(CodeUsed) as used:
        oauth.login(code)
    assert used.value.errcode == 40163
    with pytest.raises(InvalidCode) as unknown:
        oauth.login(secrets.token_urlsafe(24))
    assert unknown.value.errcode == 40029
    with pytest.raises(InvalidCode):
        oauth.login("../../etc?x=1")  # never sent
    assert fake.oauth is not None and [e for _, e in fake.oauth.exchanges] == [0, 40163, 40029]


def test_wrong_secret_and_wechats_errors(oauth: WechatOAuth, fake: FakeServer) -> None:
    assert fake.oauth is not None
    wrong = WechatOAuth(OAuthConfig(OA_APPID, "not-the-secret", api_base_url=fake.url, timeout_s=2.0))
    with pytest.raises(OAuthMisconfigured) as e:
        wrong.login(code_from(oauth, fake, "bob"))
    assert e.value.errcode == 40125
    fake.oauth.fail_next(-1)
    with pytest.raises(LoginBusy):
        oauth.login(code_from(oauth, fake, "bob"))
    fake.oauth.fail_next(45011)
    with pytest.raises(QuotaExceeded):
        oauth.login(code_from(oauth, fake, "bob"))
    # a token that does not answer JSON, and a server that is not there
    broken = WechatOAuth(OAuthConfig(OA_APPID, OA_SECRET, api_base_url=fake.url + "/nowhere", timeout_s=2.0))
    with pytest.raises(LoginUnavailable):
        broken.login("abc")


def test_fake_userinfo_checks_token_openid_scope_and_expiry(oauth: WechatOAuth, fake: FakeServer) -> None:
    f = fake.oauth
    assert f is not None
    token = f.exchange({"appid": OA_APPID, "secret": OA_SECRET, "code": code_from(oauth, fake, "carol"),
                        "grant_type": "authorization_code"})
    ok = {"access_token": token["access_token"], "openid": token["openid"], "lang": "zh_CN"}
    assert f.userinfo(ok)["nickname"] == "carol"
    assert f.userinfo({**ok, "access_token": "forged"})["errcode"] == 40001
    assert f.userinfo({**ok, "openid": f.openid_for("mallory")})["errcode"] == 40003
    f.clock = lambda: 1e12  # long past the token's two hours
    assert f.userinfo(ok)["errcode"] == 42001


def test_snsapi_base_logs_in_without_userinfo(oauth: WechatOAuth, fake: FakeServer) -> None:
    back = grant(fake, oauth.authorize_url(CALLBACK, "s", scope="snsapi_base"), "dave")
    user = oauth.login(parse_qs(urlsplit(back).query)["code"][0])
    assert user.nickname is None and user.unionid == unionid_for("dave")
    assert fake.oauth is not None and fake.oauth.userinfos == []


# --- return routes and states (pure / one table) ----------------------------------------------
@pytest.mark.parametrize("value", [
    "https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)", "#//evil.example",
    "#/stations/../../x/y", "#/\\evil", "/app/#/wallet", "#/wallet\nSet-Cookie: x", None, 7, "#/" + "a" * 300,
])
def test_return_to_is_only_ever_an_app_route(value: Any) -> None:
    assert weblogin.safe_return_to(value) == "#/stations"


@pytest.mark.parametrize("value", ["#/wallet", "#/scan?g=JC-H5-0001", "#/station/ST-01", "#/order/12"])
def test_app_routes_are_kept(value: str) -> None:
    assert weblogin.safe_return_to(value) == value


def test_state_is_single_use_browser_bound_and_expires(tmp_path: Path) -> None:
    sqlite = create_engine(f"sqlite:///{tmp_path / 's.sqlite'}")
    upgrade(sqlite)
    with Session(sqlite) as s, s.begin():
        state, nonce = weblogin.begin(s, "#/wallet", now=1_000_000)
        old_state, old_nonce = weblogin.begin(s, "#/wallet", now=1_000_000)
    with Session(sqlite) as s, s.begin():
        with pytest.raises(weblogin.LoginStateInvalid):
            weblogin.consume(s, state, secrets.token_urlsafe(32), now=1_000_001)  # another browser
        with pytest.raises(weblogin.LoginStateInvalid):
            weblogin.consume(s, None, nonce, now=1_000_001)
        assert weblogin.consume(s, state, nonce, now=1_000_002) == "#/wallet"
        with pytest.raises(weblogin.LoginStateInvalid):
            weblogin.consume(s, state, nonce, now=1_000_003)  # used
        with pytest.raises(weblogin.LoginStateInvalid):
            weblogin.consume(s, old_state, old_nonce, now=1_000_000 + weblogin.STATE_TTL_MS)  # expired
    sqlite.dispose()


# --- the flow through the cloud ---------------------------------------------------------------
@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeServer) -> Iterator[Flask]:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'c.sqlite'}",
                      "CA_DIR": str(tmp_path / "ca"), "WECHAT_APPID": APPID, "WECHAT_SECRET": SECRET,
                      "WECHAT_API_BASE_URL": fake.url, "WECHAT_TIMEOUT_S": 2.0,
                      "WECHAT_OA_APPID": OA_APPID, "WECHAT_OA_SECRET": OA_SECRET,
                      "WECHAT_OA_AUTHORIZE_URL": fake.url + "/connect/oauth2/authorize"})
    with app.app_context():
        upgrade(db.engine)
    yield app
    with app.app_context():
        db.engine.dispose()


def start(browser: FlaskClient, nxt: str = "#/stations") -> str:
    r = browser.get("/app/login/wechat", query_string={"next": nxt})
    assert r.status_code == 302
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/app/login/wechat" in cookie
    return str(r.headers["Location"])


def callback(browser: FlaskClient, back: str) -> tuple[str, dict[str, str]]:
    """Follow WeChat's redirect into the cloud: (app route, fragment's fields)."""
    parts = urlsplit(back)
    assert parts.path == "/app/login/wechat/callback"
    r = browser.get(parts.path + "?" + parts.query)
    assert r.status_code == 303
    loc = urlsplit(r.headers["Location"])
    assert loc.scheme == "" and loc.netloc == "" and loc.path == "/app/"  # never off this site
    if loc.fragment.startswith("/login?"):
        return "login", dict(parse_qsl(loc.fragment.split("?", 1)[1]))
    return "app", dict(parse_qsl(loc.fragment))


def h5_login(app: Flask, fake: FakeServer, user: str, nxt: str = "#/stations") -> dict[str, str]:
    browser = app.test_client()
    where, got = callback(browser, grant(fake, start(browser, nxt), user))
    assert where == "app", got
    return got


def test_whole_login_gives_a_token_and_returns_to_the_route(app: Flask, fake: FakeServer) -> None:
    browser = app.test_client()
    to_wechat = start(browser, "#/scan?g=JC-H5-0001")
    q = parse_qs(urlsplit(to_wechat).query)
    assert to_wechat.startswith(fake.url + "/connect/oauth2/authorize?") and to_wechat.endswith("#wechat_redirect")
    assert q["appid"] == [OA_APPID] and q["redirect_uri"] == [CALLBACK] and q["scope"] == ["snsapi_userinfo"]
    where, got = callback(browser, grant(fake, to_wechat, "h5-alice"))
    assert where == "app" and got["next"] == "#/scan?g=JC-H5-0001" and got["jc_login"].startswith("jcd_")
    me = app.test_client().get(f"{BASE}/me", headers=auth(got["jc_login"]))
    assert me.status_code == 200 and me.json["nickname"] == "h5-alice"  # type: ignore[index]


def test_replayed_callback_is_refused_and_wechat_not_asked_again(app: Flask, fake: FakeServer) -> None:
    assert fake.oauth is not None
    browser = app.test_client()
    back = grant(fake, start(browser), "h5-bob")
    assert callback(browser, back)[0] == "app"
    assert callback(browser, back) == ("login", {"error": "login_state_invalid"})
    assert len(fake.oauth.exchanges) == 1


def test_forged_missing_and_foreign_state_never_exchange_the_code(app: Flask, fake: FakeServer) -> None:
    assert fake.oauth is not None
    victim = app.test_client()
    back = grant(fake, start(victim), "h5-carol")
    parts = urlsplit(back)
    q = dict(parse_qsl(parts.query))
    # an attacker's browser (no cookie of this login) with the victim's callback link
    assert callback(app.test_client(), back) == ("login", {"error": "login_state_invalid"})
    forged = f"{parts.scheme}://{parts.netloc}{parts.path}?code={q['code']}&state={secrets.token_urlsafe(32)}"
    assert callback(victim, forged) == ("login", {"error": "login_state_invalid"})
    missing = f"{parts.scheme}://{parts.netloc}{parts.path}?code={q['code']}"
    assert callback(victim, missing) == ("login", {"error": "login_state_invalid"})
    assert fake.oauth.exchanges == []
    # none of that used the victim's state up
    assert callback(victim, back)[0] == "app"


@pytest.mark.parametrize("nxt", ["https://evil.example/", "//evil.example/x", "#//evil.example", "javascript:x"])
def test_open_redirect_attempts_land_on_the_station_list(app: Flask, fake: FakeServer, nxt: str) -> None:
    assert h5_login(app, fake, "h5-dave", nxt)["next"] == "#/stations"


def test_refusal_and_wechat_errors_come_back_as_codes(app: Flask, fake: FakeServer) -> None:
    assert fake.oauth is not None
    browser = app.test_client()
    assert callback(browser, grant(fake, start(browser), "h5-erin", "deny")) == (
        "login", {"error": "wechat_login_refused"})
    # the code already used (by whoever got it first): WeChat's 40163
    browser = app.test_client()
    back = grant(fake, start(browser), "h5-erin")
    code = parse_qs(urlsplit(back).query)["code"][0]
    fake.oauth.exchange({"appid": OA_APPID, "secret": OA_SECRET, "code": code, "grant_type": "authorization_code"})
    assert callback(browser, back) == ("login", {"error": "wechat_code_used"})
    fake.oauth.fail_next(-1)
    browser = app.test_client()
    assert callback(browser, grant(fake, start(browser), "h5-erin")) == ("login", {"error": "wechat_busy"})


def test_one_person_one_driver_across_mini_program_and_h5(app: Flask, fake: FakeServer) -> None:
    assert fake.login is not None
    client = app.test_client()
    # known from the mini-program first
    mp = client.post(f"{BASE}/login", json={"code": fake.login.issue_code("frank", unionid=unionid_for("frank"))})
    assert mp.status_code == 201
    h5 = h5_login(app, fake, "frank")
    assert client.get(f"{BASE}/me", headers=auth(h5["jc_login"])).json["id"] == mp.json["driver"]["id"]  # type: ignore[index]
    # the H5 app first, then the mini-program: still one driver, now under the mini-program's openid
    h5 = h5_login(app, fake, "grace")
    first = client.get(f"{BASE}/me", headers=auth(h5["jc_login"])).json["id"]  # type: ignore[index]
    mp = client.post(f"{BASE}/login", json={"code": fake.login.issue_code("grace", unionid=unionid_for("grace"))})
    assert mp.status_code == 200 and mp.json["driver"]["id"] == first  # type: ignore[index]
    assert h5_login(app, fake, "grace")["jc_login"] != h5["jc_login"]
    with app.app_context():
        d = db.session.scalars(select(Driver).where(Driver.id == first)).one()
        assert (d.appid, d.openid, d.unionid) == (APPID, fake.login.openid_for("grace"), unionid_for("grace"))
        assert db.session.scalar(select(Driver.id).where(Driver.unionid == unionid_for("grace"))) == first
        assert len(db.session.scalars(select(Driver)).all()) == 2


def test_without_unionid_the_official_account_openid_is_its_own_driver(app: Flask, fake: FakeServer) -> None:
    assert fake.oauth is not None and fake.login is not None
    fake.oauth.with_unionid = False
    h5 = h5_login(app, fake, "heidi")
    mp = app.test_client().post(f"{BASE}/login", json={"code": fake.login.issue_code("heidi")})
    me = app.test_client().get(f"{BASE}/me", headers=auth(h5["jc_login"])).json
    assert mp.json["driver"]["id"] != me["id"]  # type: ignore[index]


def test_not_configured_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'n.sqlite'}",
                      "CA_DIR": str(tmp_path / "ca")})
    r = app.test_client().get("/app/login/wechat")
    assert r.status_code == 404 and "mini-program" in r.get_data(as_text=True)


def test_first_logins_from_both_apps_at_once_make_one_driver(engine: Any) -> None:  # noqa: F811
    """The same person's first logins racing from the mini-program and the official account
    (threads, each its own transaction): one driver, whichever commits first."""
    import threading

    from cloud.drivers import service
    from cloud.wechat.login import WechatSession

    settings = service.DriverSettings(appid=APPID)
    for n in range(4):
        unionid = f"oU-race-{n}"
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def one(appid: str, openid: str, unionid: str = unionid, barrier: threading.Barrier = barrier,
                errors: list[BaseException] = errors) -> None:
            try:
                barrier.wait(5)
                with Session(engine) as s, s.begin():
                    service.login(s, WechatSession(openid, "", unionid), settings, 1_000, appid=appid)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=one, args=(APPID, f"mp-{n}")),
                   threading.Thread(target=one, args=(OA_APPID, f"oa-{n}"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors, errors
        with Session(engine) as s:
            assert len(s.scalars(select(Driver).where(Driver.unionid == unionid)).all()) == 1
