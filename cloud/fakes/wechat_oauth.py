"""A fake WeChat Official Account web authorisation (网页授权), checking what it receives.

`authorize(params)` is WeChat's authorisation page: it checks appid, response_type, scope and
that redirect_uri is on an allowed host (WeChat's "网页授权域名"), and `grant(...)` is the user
pressing Allow: a code for that user's openid, sent back to redirect_uri with the state.
`exchange(params)` is sns/oauth2/access_token (appid, secret, code, grant_type checked; a code
works once and for five minutes: 40029, 40163), `userinfo(params)` sns/userinfo (the access
token, its openid and scope checked: 40001, 42001, 40003, 48001). Answers are WeChat's JSON.

The same user name gets the same unionid here as `unionid_for` gives the fake mini-program
login, as one open-platform account binds both apps.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from cloud.fakes.wechat_login import ERRMSG, unionid_for

CODE_TTL_S = 300
TOKEN_TTL_S = 7200
OAUTH_ERRMSG = {**ERRMSG, 40001: "invalid credential, access_token is invalid or not latest",
                42001: "access_token expired", 40003: "invalid openid", 48001: "api unauthorized"}
_LANGS = {"zh_CN", "zh_TW", "en"}


class AuthorizeRefused(Exception):
    """WeChat's authorisation page shows an error instead of asking the user."""

    def __init__(self, errcode: int, message: str) -> None:
        super().__init__(message)
        self.errcode, self.message = errcode, message


@dataclass
class _Code:
    openid: str
    unionid: str | None
    scope: str
    nickname: str
    expires: float
    used: bool = False


@dataclass
class _Token:
    openid: str
    unionid: str | None
    scope: str
    nickname: str
    expires: float


@dataclass
class FakeWechatOAuth:
    appid: str
    secret: str = field(repr=False)
    redirect_hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
    with_unionid: bool = True  # the account is bound to an open platform with the mini-program
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._codes: dict[str, _Code] = {}
        self._tokens: dict[str, _Token] = {}
        self._fail: list[int] = []
        self._given: set[str] = set()
        self._lock = threading.Lock()
        self.exchanges: list[tuple[str, int]] = []  # (code, errcode or 0)
        self.userinfos: list[tuple[str, int]] = []  # (openid asked for, errcode or 0)

    def openid_for(self, user: str) -> str:
        digest = hashlib.sha256(f"{self.appid}:{user}".encode()).digest()
        return "o" + base64.urlsafe_b64encode(digest).decode()[:27]

    def knows_openid(self, openid: str) -> bool:
        """Whether this account's authorisation gave `openid` out (the fake Pay asks)."""
        with self._lock:
            return openid in self._given

    def remember(self, user: str) -> str:
        """The user's openid, as given out (a test's driver who authorised before)."""
        openid = self.openid_for(user)
        with self._lock:
            self._given.add(openid)
        return openid

    def fail_next(self, errcode: int) -> None:
        with self._lock:
            self._fail.append(errcode)

    # --- the authorisation page ---------------------------------------------------------
    def authorize(self, params: Mapping[str, str]) -> dict[str, str]:
        """The checked request of the authorisation page: {redirect_uri, scope, state}."""
        if params.get("appid") != self.appid:
            raise AuthorizeRefused(10016, "appid 参数错误 / wrong appid")
        if params.get("response_type") != "code":
            raise AuthorizeRefused(10004, "response_type 参数错误 / response_type must be code")
        scope = params.get("scope", "")
        if scope not in ("snsapi_base", "snsapi_userinfo"):
            raise AuthorizeRefused(10005, "scope 参数错误或没有 scope 权限 / wrong scope")
        redirect = params.get("redirect_uri", "")
        parts = urlsplit(redirect)
        if parts.scheme not in ("http", "https") or parts.hostname not in self.redirect_hosts:
            raise AuthorizeRefused(10003, "redirect_uri 域名与后台配置不一致 / redirect_uri not on the authorised domain")
        state = params.get("state", "")
        if len(state) > 128:
            raise AuthorizeRefused(10009, "state 过长 / state too long")
        return {"redirect_uri": redirect, "scope": scope, "state": state}

    def grant(self, params: Mapping[str, str], user: str, *, allow: bool = True) -> str:
        """The user's answer on the page: where WeChat sends the browser next."""
        checked = self.authorize(params)
        back: list[tuple[str, str]] = []
        if allow:
            code = secrets.token_urlsafe(24)
            with self._lock:
                self._given.add(self.openid_for(user))
                self._codes[code] = _Code(self.openid_for(user), unionid_for(user) if self.with_unionid else None,
                                          checked["scope"], user, self.clock() + CODE_TTL_S)
            back.append(("code", code))
        back.append(("state", checked["state"]))
        parts = urlsplit(checked["redirect_uri"])
        query = parse_qsl(parts.query, keep_blank_values=True) + back
        return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))

    # --- the API --------------------------------------------------------------------------
    def exchange(self, params: Mapping[str, str]) -> dict[str, Any]:
        result = self._exchange(params)
        self.exchanges.append((params.get("code", ""), int(result.get("errcode", 0))))
        return result

    def _exchange(self, params: Mapping[str, str]) -> dict[str, Any]:
        if params.get("appid") != self.appid:
            return _err(40013)
        if params.get("secret") != self.secret:
            return _err(40125)
        if params.get("grant_type") != "authorization_code":
            return _err(40002)
        with self._lock:
            if self._fail:
                return _err(self._fail.pop(0))
            entry = self._codes.get(params.get("code", ""))
            if entry is None or entry.expires < self.clock():
                return _err(40029)
            if entry.used:
                return _err(40163)
            entry.used = True
            token = secrets.token_urlsafe(32)
            self._tokens[token] = _Token(entry.openid, entry.unionid, entry.scope, entry.nickname,
                                         self.clock() + TOKEN_TTL_S)
        out: dict[str, Any] = {"access_token": token, "expires_in": TOKEN_TTL_S,
                               "refresh_token": secrets.token_urlsafe(32), "openid": entry.openid,
                               "scope": entry.scope, "is_snapshotuser": 0}
        if entry.unionid:
            out["unionid"] = entry.unionid
        return out

    def userinfo(self, params: Mapping[str, str]) -> dict[str, Any]:
        result = self._userinfo(params)
        self.userinfos.append((params.get("openid", ""), int(result.get("errcode", 0))))
        return result

    def _userinfo(self, params: Mapping[str, str]) -> dict[str, Any]:
        with self._lock:
            if self._fail:
                return _err(self._fail.pop(0))
            token = self._tokens.get(params.get("access_token", ""))
        if token is None:
            return _err(40001)
        if token.expires < self.clock():
            return _err(42001)
        if params.get("openid") != token.openid:
            return _err(40003)
        if token.scope != "snsapi_userinfo":
            return _err(48001)
        if params.get("lang", "zh_CN") not in _LANGS:
            return _err(40002)
        out: dict[str, Any] = {"openid": token.openid, "nickname": token.nickname, "sex": 0, "province": "",
                               "city": "", "country": "", "privilege": [],
                               "headimgurl": "https://thirdwx.qlogo.cn/mmopen/fake/132"}
        if token.unionid:
            out["unionid"] = token.unionid
        return out


def _err(errcode: int) -> dict[str, Any]:
    return {"errcode": errcode, "errmsg": f"{OAUTH_ERRMSG.get(errcode, 'error')}, rid: {secrets.token_hex(6)}"}
