"""WeChat Official Account web authorisation (网页授权): how the H5 app logs a driver in.

1. The browser goes to {authorize_url}?appid&redirect_uri&response_type=code&scope&state
   #wechat_redirect (WeChat wants the parameters in that order and the fragment).
2. WeChat sends it back to redirect_uri?code=…&state=… (no code when the user refuses).
3. GET {api_base}/sns/oauth2/access_token?appid&secret&code&grant_type=authorization_code
   answers {access_token, expires_in, refresh_token, openid, scope, unionid?} or
   {errcode, errmsg}; a code works once and for five minutes.
4. GET {api_base}/sns/userinfo?access_token&openid&lang=zh_CN (scope snsapi_userinfo)
   answers {openid, nickname, headimgurl, unionid?, …}.

The access token stays here (it is the user's, not ours); the cloud issues its own token.
Errors are the LoginError classes of cloud.wechat.login, so the API and the H5 pages show
one set of messages for both ways of logging in. The local fake is cloud.fakes.wechat_oauth.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from cloud.wechat.login import (
    ERRCODES,
    PRODUCTION_BASE_URL,
    InvalidCode,
    LoginError,
    LoginUnavailable,
    WechatSession,
)

PRODUCTION_AUTHORIZE_URL = "https://open.weixin.qq.com/connect/oauth2/authorize"
SETTING_KEYS = ("WECHAT_OA_APPID", "WECHAT_OA_SECRET", "WECHAT_OA_AUTHORIZE_URL")
SCOPES = ("snsapi_base", "snsapi_userinfo")
_CODE = re.compile(r"[0-9A-Za-z_\-]{1,128}")
_STATE = re.compile(r"[0-9A-Za-z_\-]{1,128}")  # WeChat passes back at most 128 bytes of a-zA-Z0-9
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


class OAuthMisconfigured(LoginError):
    code = "WECHAT_OA_MISCONFIGURED"  # 40013 wrong appid, 40125 wrong secret, 48001 scope not granted


class AccessTokenInvalid(LoginError):
    code, retryable = "WECHAT_UNAVAILABLE", True  # 40001/42001/40003 on userinfo: start again


class LoginRefused(LoginError):
    code = "WECHAT_LOGIN_REFUSED"  # the user pressed "refuse" on WeChat's authorisation page


OAUTH_ERRCODES: dict[int, type[LoginError]] = {
    **ERRCODES,
    40013: OAuthMisconfigured, 40125: OAuthMisconfigured, 48001: OAuthMisconfigured,
    40001: AccessTokenInvalid, 42001: AccessTokenInvalid, 40003: AccessTokenInvalid,
}


@dataclass(frozen=True)
class OAuthConfig:
    appid: str
    secret: str = field(repr=False)
    api_base_url: str = PRODUCTION_BASE_URL
    authorize_url: str = PRODUCTION_AUTHORIZE_URL
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if not self.appid or not self.secret:
            raise ValueError("WECHAT_OA_APPID and WECHAT_OA_SECRET must both be set")
        for key, url in (("WECHAT_API_BASE_URL", self.api_base_url), ("WECHAT_OA_AUTHORIZE_URL", self.authorize_url)):
            parts = urlsplit(url)
            if not (parts.scheme == "https" and parts.hostname) and not (
                    parts.scheme == "http" and parts.hostname in _LOOPBACK):
                raise ValueError(f"{key} {url!r} must be https:// (plain http only to localhost, for the fake server)")
            if parts.query or parts.fragment:
                raise ValueError(f"{key} {url!r} must have no query or fragment")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> OAuthConfig:
        return cls(appid=str(settings.get("WECHAT_OA_APPID") or ""),
                   secret=str(settings.get("WECHAT_OA_SECRET") or ""),
                   api_base_url=str(settings.get("WECHAT_API_BASE_URL") or PRODUCTION_BASE_URL),
                   authorize_url=str(settings.get("WECHAT_OA_AUTHORIZE_URL") or PRODUCTION_AUTHORIZE_URL),
                   timeout_s=float(settings.get("WECHAT_TIMEOUT_S") or 5.0))


@dataclass(frozen=True)
class OAuthUser:
    """Who authorised: openid for the official account, unionid across the developer's apps
    (the same person in the mini-program), and what snsapi_userinfo tells of them."""

    openid: str
    unionid: str | None = None
    nickname: str | None = None
    avatar_url: str | None = None

    def session(self) -> WechatSession:
        return WechatSession(openid=self.openid, session_key="", unionid=self.unionid)


@dataclass(frozen=True)
class _Access:
    access_token: str = field(repr=False)
    openid: str
    scope: str
    unionid: str | None


class WechatOAuth:
    def __init__(self, config: OAuthConfig, session: requests.Session | None = None) -> None:
        self.config = config
        self._http = session or requests.Session()

    def authorize_url(self, redirect_uri: str, state: str, scope: str = "snsapi_userinfo") -> str:
        """Where to send the browser. `state` comes back unchanged with the code."""
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}")
        if not _STATE.fullmatch(state):
            raise ValueError("state must be 1–128 of A-Z a-z 0-9 _ -")
        parts = urlsplit(redirect_uri)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
            raise ValueError(f"redirect_uri {redirect_uri!r} must be an absolute http(s) URL without fragment")
        query = urlencode([("appid", self.config.appid), ("redirect_uri", redirect_uri),
                           ("response_type", "code"), ("scope", scope), ("state", state)])
        return f"{self.config.authorize_url}?{query}#wechat_redirect"

    def login(self, code: str) -> OAuthUser:
        """Exchange the redirect's code, then read the user's profile (snsapi_userinfo)."""
        access = self.exchange_code(code)
        if "snsapi_userinfo" not in access.scope.split(","):
            return OAuthUser(openid=access.openid, unionid=access.unionid)
        return self.userinfo(access)

    def exchange_code(self, code: str) -> _Access:
        if not isinstance(code, str) or not _CODE.fullmatch(code):
            raise InvalidCode("the authorisation code is empty or malformed", 40029)
        data = self._get("/sns/oauth2/access_token", {
            "appid": self.config.appid, "secret": self.config.secret, "code": code,
            "grant_type": "authorization_code"})
        token, openid = data.get("access_token"), data.get("openid")
        if not (isinstance(token, str) and token and isinstance(openid, str) and openid):
            raise LoginUnavailable("oauth2/access_token: the answer lacks access_token or openid")
        scope = data.get("scope")
        return _Access(access_token=token, openid=openid, scope=scope if isinstance(scope, str) else "",
                       unionid=_text(data.get("unionid"), 64))

    def userinfo(self, access: _Access) -> OAuthUser:
        data = self._get("/sns/userinfo", {"access_token": access.access_token, "openid": access.openid,
                                           "lang": "zh_CN"})
        if data.get("openid") != access.openid:
            # an answer about someone else is never taken
            raise LoginUnavailable("sns/userinfo: the answer is for another openid")
        avatar = _text(data.get("headimgurl"), 512)
        if avatar and urlsplit(avatar).scheme != "https":
            avatar = None  # shown in the app: only https images
        return OAuthUser(openid=access.openid, unionid=_text(data.get("unionid"), 64) or access.unionid,
                         nickname=_text(data.get("nickname"), 64), avatar_url=avatar)

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        what = path.rsplit("/", 2)[-2] + "/" + path.rsplit("/", 1)[-1]
        try:
            resp = self._http.get(self.config.api_base_url.rstrip("/") + path, params=params,
                                  timeout=self.config.timeout_s, allow_redirects=False)
        except requests.RequestException as e:
            raise LoginUnavailable(f"{what}: {type(e).__name__}") from None
        if resp.status_code != 200:
            raise LoginUnavailable(f"{what}: HTTP {resp.status_code}")
        try:
            # WeChat labels its JSON text/plain: parse the body whatever the content type
            data = json.loads(resp.content)
        except ValueError:
            raise LoginUnavailable(f"{what}: the answer is not JSON") from None
        if not isinstance(data, dict):
            raise LoginUnavailable(f"{what}: the answer is not a JSON object")
        errcode = data.get("errcode") or 0
        if errcode:
            cls = OAUTH_ERRCODES.get(errcode, LoginError) if isinstance(errcode, int) else LoginError
            raise cls(f"{what}: errcode {errcode}: {data.get('errmsg', '')}".strip(),
                      errcode if isinstance(errcode, int) else None)
        return data


def _text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None
