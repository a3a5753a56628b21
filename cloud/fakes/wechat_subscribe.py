"""A fake WeChat access token and subscribe-message send (api.weixin.qq.com), checking what
it receives as WeChat does.

GET  /cgi-bin/token?grant_type=client_credential&appid&secret → {access_token, expires_in}
     (40013 wrong appid, 40125 wrong secret, 40002 wrong grant_type)
POST /cgi-bin/message/subscribe/send?access_token=… {touser, template_id, page?, data, …}
     → {errcode: 0, errmsg: "ok", msgid} or 40001 (token invalid or expired), 40003 (touser
     is no openid of this app: only openids the login fake gave out), 40037 (unknown
     template), 47003 (data does not fill the template's keys as {"key": {"value": "…"}}, or
     a value breaks its key type's rule: `thing` at most 20 characters, `time` a date and time
     "YYYY-MM-DD HH:MM", `character_string` at most 32 letters, digits and _-, `amount` a
     number of yuan),
     43101 (the user has not accepted this template: `accept(openid, template_id)` is what
     wx.requestSubscribeMessage's "allow" does, good for one message).
`templates` maps template ids to their keys; `sent` keeps every accepted message;
`expire_tokens()` makes every issued token invalid (as WeChat does when one is renewed elsewhere).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

TOKEN_TTL_S = 7200
ERRMSG = {40001: "invalid credential, access_token is invalid or not latest", 40002: "invalid grant_type",
          40003: "invalid openid", 40013: "invalid appid", 40125: "invalid appsecret", 40037: "invalid template_id",
          43101: "user refuse to accept the msg", 47003: "argument invalid! data.keyword.value invalid"}


# WeChat's rules for a template key's value, by the key's type (its name without the number).
VALUE_RULES: dict[str, Callable[[str], bool]] = {
    "thing": lambda v: len(v) <= 20,
    "time": lambda v: re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?", v) is not None,
    "character_string": lambda v: re.fullmatch(r"[A-Za-z0-9_-]{1,32}", v) is not None,
    "amount": lambda v: re.fullmatch(r"\d+(\.\d{1,2})?元?", v) is not None,
}


def value_ok(key: str, value: str) -> bool:
    rule = VALUE_RULES.get(key.rstrip("0123456789"))
    return rule is None or rule(value)


@dataclass
class FakeWechatSubscribe:
    appid: str
    secret: str = field(repr=False)
    is_openid: Callable[[str], bool] = lambda openid: False
    templates: dict[str, tuple[str, ...]] = field(default_factory=dict)
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._tokens: dict[str, float] = {}
        self._quota: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self.sent: list[dict[str, Any]] = []
        self.token_requests = 0

    def accept(self, openid: str, template_id: str) -> None:
        with self._lock:
            self._quota[(openid, template_id)] = self._quota.get((openid, template_id), 0) + 1

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    @staticmethod
    def _err(errcode: int) -> dict[str, Any]:
        return {"errcode": errcode, "errmsg": f"{ERRMSG.get(errcode, 'error')} rid: {secrets.token_hex(6)}"}

    def token(self, params: Mapping[str, str]) -> dict[str, Any]:
        if params.get("grant_type") != "client_credential":
            return self._err(40002)
        if params.get("appid") != self.appid:
            return self._err(40013)
        if params.get("secret") != self.secret:
            return self._err(40125)
        token = secrets.token_urlsafe(48)
        with self._lock:
            self.token_requests += 1
            self._tokens[token] = self.clock() + TOKEN_TTL_S
        return {"access_token": token, "expires_in": TOKEN_TTL_S}

    def send(self, access_token: str, body: Any) -> dict[str, Any]:
        with self._lock:
            expires = self._tokens.get(access_token)
            if expires is None or expires < self.clock():
                return self._err(40001)
            if not isinstance(body, dict):
                return self._err(47003)
            touser, template_id, data = body.get("touser"), body.get("template_id"), body.get("data")
            if not isinstance(touser, str) or not self.is_openid(touser):
                return self._err(40003)
            keys = self.templates.get(template_id) if isinstance(template_id, str) else None
            if keys is None:
                return self._err(40037)
            if not (isinstance(data, dict) and set(data) == set(keys) and all(
                    isinstance(v, dict) and set(v) == {"value"} and isinstance(v["value"], str) and v["value"]
                    and value_ok(k, v["value"]) for k, v in data.items())):
                return self._err(47003)
            left = self._quota.get((touser, template_id), 0)
            if left <= 0:
                return self._err(43101)
            self._quota[(touser, template_id)] = left - 1
            self.sent.append(dict(body))
            return {"errcode": 0, "errmsg": "ok", "msgid": int(secrets.randbits(40))}
