"""WeChat mini-program login: exchange the `code` from wx.login for the user's openid.

GET {base_url}/sns/jscode2session?appid&secret&js_code&grant_type=authorization_code answers
{openid, session_key, unionid?} or {errcode, errmsg}. A code works once. `session_key` stays
on the server (it decrypts phone numbers and user data); the cloud issues its own token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

PRODUCTION_BASE_URL = "https://api.weixin.qq.com"
SETTING_KEYS = ("WECHAT_APPID", "WECHAT_SECRET", "WECHAT_API_BASE_URL", "WECHAT_TIMEOUT_S")
_CODE = re.compile(r"[0-9A-Za-z_\-]{1,128}")
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


class LoginError(Exception):
    """code2Session failed; `code` is stable (for API errors), `errcode` WeChat's number if any."""

    code = "WECHAT_LOGIN_FAILED"
    retryable = False

    def __init__(self, message: str, errcode: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errcode = errcode


class LoginBusy(LoginError):
    code, retryable = "WECHAT_BUSY", True  # errcode -1: try again in a moment


class InvalidCode(LoginError):
    code = "WECHAT_CODE_INVALID"  # 40029: wrong, expired or for another appid


class CodeUsed(LoginError):
    code = "WECHAT_CODE_USED"  # 40163: the code was already exchanged


class QuotaExceeded(LoginError):
    code, retryable = "WECHAT_QUOTA", True  # 45011: too many calls per minute for this user


class UserBlocked(LoginError):
    code = "WECHAT_USER_BLOCKED"  # 40226: a high-risk user WeChat has blocked


class LoginUnavailable(LoginError):
    code, retryable = "WECHAT_UNAVAILABLE", True  # no usable answer (network, timeout, 5xx)


ERRCODES: dict[int, type[LoginError]] = {
    -1: LoginBusy, 40029: InvalidCode, 40163: CodeUsed, 45011: QuotaExceeded, 40226: UserBlocked,
}


@dataclass(frozen=True)
class WechatSession:
    openid: str
    session_key: str = field(repr=False)
    unionid: str | None = None


@dataclass(frozen=True)
class LoginConfig:
    appid: str
    secret: str = field(repr=False)
    base_url: str = PRODUCTION_BASE_URL
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if not self.appid or not self.secret:
            raise ValueError("WECHAT_APPID and WECHAT_SECRET must both be set")
        parts = urlsplit(self.base_url)
        if not (parts.scheme == "https" and parts.hostname) and not (
                parts.scheme == "http" and parts.hostname in _LOOPBACK):
            raise ValueError(f"WECHAT_API_BASE_URL {self.base_url!r} must be https:// "
                             "(plain http only to localhost, for the fake server)")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> LoginConfig:
        return cls(appid=str(settings.get("WECHAT_APPID") or ""),
                   secret=str(settings.get("WECHAT_SECRET") or ""),
                   base_url=str(settings.get("WECHAT_API_BASE_URL") or PRODUCTION_BASE_URL),
                   timeout_s=float(settings.get("WECHAT_TIMEOUT_S") or 5.0))


class WechatLogin:
    def __init__(self, config: LoginConfig, session: requests.Session | None = None) -> None:
        self.config = config
        self._http = session or requests.Session()

    def code2session(self, code: str) -> WechatSession:
        if not isinstance(code, str) or not _CODE.fullmatch(code):
            raise InvalidCode("the login code is empty or not a wx.login code", 40029)
        try:
            resp = self._http.get(
                self.config.base_url.rstrip("/") + "/sns/jscode2session",
                params={"appid": self.config.appid, "secret": self.config.secret,
                        "js_code": code, "grant_type": "authorization_code"},
                timeout=self.config.timeout_s, allow_redirects=False)
        except requests.RequestException as e:
            raise LoginUnavailable(f"code2Session: {type(e).__name__}") from None
        if resp.status_code != 200:
            raise LoginUnavailable(f"code2Session: HTTP {resp.status_code}")
        try:
            # WeChat may label the JSON text/plain: parse the body whatever the content type
            data = json.loads(resp.content)
        except ValueError:
            raise LoginUnavailable("code2Session: the answer is not JSON") from None
        if not isinstance(data, dict):
            raise LoginUnavailable("code2Session: the answer is not a JSON object")
        errcode = data.get("errcode") or 0
        if errcode:
            cls = ERRCODES.get(errcode, LoginError) if isinstance(errcode, int) else LoginError
            raise cls(f"code2Session: errcode {errcode}: {data.get('errmsg', '')}".strip(),
                      errcode if isinstance(errcode, int) else None)
        openid, session_key = data.get("openid"), data.get("session_key")
        if not (isinstance(openid, str) and openid and isinstance(session_key, str) and session_key):
            raise LoginUnavailable("code2Session: the answer lacks openid or session_key")
        unionid = data.get("unionid")
        return WechatSession(openid=openid, session_key=session_key,
                             unionid=unionid if isinstance(unionid, str) and unionid else None)
