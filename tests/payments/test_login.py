"""WeChat mini-program login (code2Session) through our client against the fake over HTTP:
a code works once, and each errcode WeChat documents becomes its own clear error."""

from __future__ import annotations

import dataclasses
import socket

import pytest
import requests

from cloud.wechat.login import (
    CodeUsed,
    InvalidCode,
    LoginBusy,
    LoginConfig,
    LoginError,
    LoginUnavailable,
    QuotaExceeded,
    UserBlocked,
    WechatLogin,
)


def test_code_gives_the_user_s_openid_once(login, fake):
    code = fake.login.issue_code("alice")
    session = login.code2session(code)
    assert session.openid == fake.login.openid_for("alice") and len(session.openid) == 28
    assert session.session_key and "session_key" not in repr(session)
    assert session.unionid is None
    with pytest.raises(CodeUsed) as e:
        login.code2session(code)
    assert (e.value.errcode, e.value.code) == (40163, "WECHAT_CODE_USED")
    # the same user logs in again with a new code: same openid; another user: another one
    assert login.code2session(fake.login.issue_code("alice")).openid == session.openid
    assert login.code2session(fake.login.issue_code("bob")).openid != session.openid


def test_unionid_when_the_app_is_bound(login, fake):
    code = fake.login.issue_code(openid="oTestOpenid000000000000000001", unionid="oUnion01")
    s = login.code2session(code)
    assert (s.openid, s.unionid) == ("oTestOpenid000000000000000001", "oUnion01")


@pytest.mark.parametrize("errcode, error, retryable", [
    (-1, LoginBusy, True), (45011, QuotaExceeded, True), (40226, UserBlocked, False),
    (40029, InvalidCode, False), (40163, CodeUsed, False), (40099, LoginError, False),
])
def test_errcodes_map_to_clear_errors(login, fake, errcode, error, retryable):
    fake.login.fail_next(errcode)
    with pytest.raises(error) as e:
        login.code2session(fake.login.issue_code("carol"))
    assert type(e.value) is error and e.value.errcode == errcode and e.value.retryable is retryable


def test_unknown_and_expired_codes(login, fake):
    with pytest.raises(InvalidCode):
        login.code2session("0a3Bc4dEfGh5iJkL6mNoP7qRsT")
    code = fake.login.issue_code("dave")
    real_clock = fake.login.clock
    fake.login.clock = lambda: real_clock() + 301
    with pytest.raises(InvalidCode):
        login.code2session(code)


def test_bad_codes_refused_without_asking_wechat(login, fake):
    for bad in ("", "a b", "x" * 129, "code&secret=1"):
        with pytest.raises(InvalidCode):
            login.code2session(bad)
    assert fake.login.exchanges == []


def test_wrong_secret_or_appid(login, fake):
    wrong = WechatLogin(dataclasses.replace(login.config, secret="0" * 32))
    with pytest.raises(LoginError) as e:
        wrong.code2session(fake.login.issue_code("erin"))
    assert e.value.errcode == 40125
    other = WechatLogin(dataclasses.replace(login.config, appid="wx0000000000000000"))
    with pytest.raises(LoginError) as e:
        other.code2session(fake.login.issue_code("erin"))
    assert e.value.errcode == 40013


def test_wechat_unreachable(login):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = WechatLogin(dataclasses.replace(login.config, base_url=f"http://127.0.0.1:{port}"))
    with pytest.raises(LoginUnavailable) as e:
        down.code2session("0a3Bc4dEfGh5iJkL6mNoP7qRsT")
    assert e.value.retryable


def test_wx_login_over_http_for_the_demo(login, fake):
    r = requests.post(fake.url + "/fake/wx/login", json={"user": "frank"}, timeout=5)
    assert r.status_code == 200 and r.json()["errMsg"] == "login:ok"
    assert login.code2session(r.json()["code"]).openid == fake.login.openid_for("frank")
    # WeChat labels the answer text/plain; the client reads it anyway
    raw = requests.get(fake.url + "/sns/jscode2session", timeout=5, params={"appid": "x"})
    assert raw.headers["Content-Type"].startswith("text/plain") and raw.json()["errcode"] == 40013


def test_settings():
    cfg = LoginConfig.from_settings({"WECHAT_APPID": "wx1", "WECHAT_SECRET": "S3CR3T",
                                     "WECHAT_API_BASE_URL": "http://127.0.0.1:1"})
    assert cfg.base_url == "http://127.0.0.1:1" and "S3CR3T" not in repr(cfg)
    assert LoginConfig.from_settings({"WECHAT_APPID": "wx1", "WECHAT_SECRET": "s"}).base_url == \
        "https://api.weixin.qq.com"
    with pytest.raises(ValueError, match="https"):
        LoginConfig.from_settings({"WECHAT_APPID": "wx1", "WECHAT_SECRET": "s",
                                   "WECHAT_API_BASE_URL": "http://api.example.cn"})
    with pytest.raises(ValueError, match="WECHAT_SECRET"):
        LoginConfig.from_settings({"WECHAT_APPID": "wx1"})
