"""WeChat mini-program subscribe messages: the access token and the send.

GET  {base_url}/cgi-bin/token?grant_type=client_credential&appid&secret → {access_token, expires_in}
POST {base_url}/cgi-bin/message/subscribe/send?access_token=… {touser, template_id, page?, data}
The token is cached until five minutes before it expires (WeChat allows a limited number of
token calls a day); an answer saying it is invalid (40001, 42001) fetches a new one and tries
once more. `data` is {key: value} here and sent as WeChat wants it, {key: {"value": value}}.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from cloud.wechat.login import PRODUCTION_BASE_URL, LoginConfig

TOKEN_MARGIN_S = 300
STALE_TOKEN = frozenset({40001, 42001})  # invalid / expired access_token


class SubscribeError(Exception):
    """A message not sent; `errcode` is WeChat's number (None: no usable answer)."""

    def __init__(self, message: str, errcode: int | None = None) -> None:
        super().__init__(message)
        self.errcode = errcode


@dataclass(frozen=True)
class SubscribeConfig:
    appid: str
    secret: str = field(repr=False)
    base_url: str = PRODUCTION_BASE_URL
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        # the same rules as the login's: both set, https (plain http only to the local fake)
        LoginConfig(self.appid, self.secret, self.base_url, self.timeout_s)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> SubscribeConfig:
        c = LoginConfig.from_settings(settings)
        return cls(c.appid, c.secret, c.base_url, c.timeout_s)


class SubscribeClient:
    def __init__(self, config: SubscribeConfig, session: requests.Session | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._http = session or requests.Session()
        self._clock = clock
        self._lock = threading.Lock()
        self._token: tuple[str, float] | None = None  # (token, refresh after)

    def _call(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        try:
            resp = self._http.request(method, self.config.base_url.rstrip("/") + path,
                                      timeout=self.config.timeout_s, allow_redirects=False, **kw)
        except requests.RequestException as e:
            raise SubscribeError(f"{path}: {type(e).__name__}") from None
        if resp.status_code != 200:
            raise SubscribeError(f"{path}: HTTP {resp.status_code}")
        try:
            data = json.loads(resp.content)
        except ValueError:
            raise SubscribeError(f"{path}: the answer is not JSON") from None
        if not isinstance(data, dict):
            raise SubscribeError(f"{path}: the answer is not a JSON object")
        return data

    def access_token(self, *, fresh: bool = False) -> str:
        with self._lock:
            if not fresh and self._token is not None and self._clock() < self._token[1]:
                return self._token[0]
            data = self._call("GET", "/cgi-bin/token", params={
                "grant_type": "client_credential", "appid": self.config.appid, "secret": self.config.secret})
            token, expires_in = data.get("access_token"), data.get("expires_in")
            if not isinstance(token, str) or not token or not isinstance(expires_in, int):
                errcode = data.get("errcode")
                raise SubscribeError(f"token: errcode {errcode}: {data.get('errmsg', '')}",
                                     errcode if isinstance(errcode, int) else None)
            self._token = (token, self._clock() + max(0, expires_in - TOKEN_MARGIN_S))
            return token

    def send(self, touser: str, template_id: str, data: Mapping[str, str], page: str | None = None) -> int:
        """Send one message; returns WeChat's msgid. Raises SubscribeError (43101: the user has
        not accepted this template; each acceptance allows one message)."""
        body: dict[str, Any] = {"touser": touser, "template_id": template_id,
                                "data": {k: {"value": str(v)} for k, v in data.items()}}
        if page:
            body["page"] = page
        payload = json.dumps(body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        for attempt in range(2):
            token = self.access_token(fresh=attempt > 0)
            answer = self._call("POST", "/cgi-bin/message/subscribe/send", params={"access_token": token},
                                data=payload, headers=headers)
            errcode = answer.get("errcode") or 0
            if errcode in STALE_TOKEN and attempt == 0:
                continue
            if errcode:
                raise SubscribeError(f"subscribe/send: errcode {errcode}: {answer.get('errmsg', '')}",
                                     errcode if isinstance(errcode, int) else None)
            return int(answer.get("msgid") or 0)
        raise SubscribeError("subscribe/send: the access token stayed invalid")  # pragma: no cover
