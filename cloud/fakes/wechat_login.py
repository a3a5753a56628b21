"""A fake WeChat code2Session: issues login codes for test users and exchanges each once.

`issue_code(user)` is what wx.login does on a phone: a code for that user's openid (the same
user always gets the same openid for this appid, 28 characters like WeChat's). The exchange
answers as WeChat does, JSON labelled text/plain: {openid, session_key[, unionid]} or
{errcode, errmsg} — 40029 unknown or expired code, 40163 code already used, 40013 wrong appid,
40125 wrong secret; `fail_next(errcode)` makes the next exchange fail (-1, 45011, 40226, …).
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

CODE_TTL_S = 300  # a wx.login code lives five minutes
ERRMSG = {-1: "system error", 40029: "invalid code", 40163: "code been used", 45011: "api minute-quota reach limit",
          40226: "invalid risky user", 40013: "invalid appid", 40125: "invalid appsecret",
          40002: "invalid grant_type"}


def unionid_for(user: str) -> str:
    """The unionid one open-platform account gives this user in every app bound to it (the
    fake mini-program login and the fake official account alike)."""
    digest = hashlib.sha256(f"open-platform:{user}".encode()).digest()
    return "oU" + base64.urlsafe_b64encode(digest).decode()[:26]


@dataclass
class _Code:
    openid: str
    unionid: str | None
    expires: float
    used: bool = False


@dataclass
class FakeWechatLogin:
    appid: str
    secret: str = field(repr=False)
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._codes: dict[str, _Code] = {}
        self._fail: list[int] = []
        self._lock = threading.Lock()
        self.exchanges: list[tuple[str, int]] = []  # (code, errcode or 0)
        self._issued: set[str] = set()

    def openid_for(self, user: str) -> str:
        digest = hashlib.sha256(f"{self.appid}:{user}".encode()).digest()
        return "o" + base64.urlsafe_b64encode(digest).decode()[:27]

    def knows_openid(self, openid: str) -> bool:
        """Whether a login gave this openid out (subscribe messages go only to those)."""
        with self._lock:
            return openid in self._issued

    def issue_code(self, user: str | None = None, *, openid: str | None = None,
                   unionid: str | None = None) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Code(openid or self.openid_for(user or secrets.token_hex(8)),
                                      unionid, self.clock() + CODE_TTL_S)
            self._issued.add(self._codes[code].openid)
        return code

    def fail_next(self, errcode: int) -> None:
        with self._lock:
            self._fail.append(errcode)

    def exchange(self, params: Mapping[str, str]) -> dict[str, Any]:
        code = params.get("js_code", "")
        result = self._exchange(params)
        self.exchanges.append((code, int(result.get("errcode", 0))))
        return result

    def _exchange(self, params: Mapping[str, str]) -> dict[str, Any]:
        def err(errcode: int) -> dict[str, Any]:
            return {"errcode": errcode, "errmsg": f"{ERRMSG.get(errcode, 'error')}, rid: {secrets.token_hex(6)}"}

        if params.get("appid") != self.appid:
            return err(40013)
        if params.get("secret") != self.secret:
            return err(40125)
        if params.get("grant_type") != "authorization_code":
            return err(40002)
        with self._lock:
            if self._fail:
                return err(self._fail.pop(0))
            entry = self._codes.get(params.get("js_code", ""))
            if entry is None or entry.expires < self.clock():
                return err(40029)
            if entry.used:
                return err(40163)
            entry.used = True
        out: dict[str, Any] = {"openid": entry.openid, "session_key": base64.b64encode(secrets.token_bytes(16)).decode()}
        if entry.unionid:
            out["unionid"] = entry.unionid
        return out
