"""Running the fakes: in a thread of the test process, or as their own process for the demo.

    keys = FakeKeys()
    with FakeServer.for_keys(keys, retry_scale=0.001) as fake:
        fake.url            # http://127.0.0.1:<free port>: WECHATPAY_BASE_URL and WECHAT_API_BASE_URL
        fake.pay            # FakeWechatPay: orders, refunds, deliveries, faults
        fake.login          # FakeWechatLogin: issue_code(user)
        fake.oauth          # FakeWechatOAuth: the official account's web authorisation
        fake.subscribe      # FakeWechatSubscribe: access tokens and subscribe messages (with login)
"""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from cloud.fakes.http import make_app
from cloud.fakes.keys import FakeKeys
from cloud.fakes.wechat_login import FakeWechatLogin
from cloud.fakes.wechat_oauth import FakeWechatOAuth
from cloud.fakes.wechat_subscribe import FakeWechatSubscribe
from cloud.fakes.wechatpay import FakeWechatPay


class FakeServer:
    def __init__(self, pay: FakeWechatPay | None = None, login: FakeWechatLogin | None = None,
                 host: str = "127.0.0.1", port: int = 0, oauth: FakeWechatOAuth | None = None) -> None:
        self.pay, self.login, self.oauth = pay, login, oauth
        # the mini-program's access token and subscribe messages: its appid and secret, and
        # only openids its login gave out
        self.subscribe = None if login is None else FakeWechatSubscribe(
            login.appid, login.secret, is_openid=login.knows_openid)
        self._server: BaseWSGIServer = make_server(host, port, make_app(pay, login, oauth, self.subscribe),
                                                   threaded=True)
        self._thread: threading.Thread | None = None

    @classmethod
    def for_keys(cls, keys: FakeKeys, *, host: str = "127.0.0.1", port: int = 0,
                 **pay_options: Any) -> FakeServer:
        oauth = FakeWechatOAuth(keys.oa_appid, keys.oa_secret)
        # the official account is bound to the merchant: the H5 app pays under it, and only
        # with openids its web authorisation gave out
        pay_options.setdefault("oa_appid", keys.oa_appid)
        pay_options.setdefault("oa_openid_known", oauth.knows_openid)
        pay = FakeWechatPay(mchid=keys.mchid, appid=keys.appid, merchant_serial_no=keys.merchant_serial_no,
                            merchant_public_key=keys.merchant_key.public_key(), apiv3_key=keys.apiv3_key,
                            signing_key=keys.wechatpay_key, signing_serial=keys.wechatpay_public_key_id,
                            **pay_options)
        return cls(pay, FakeWechatLogin(keys.appid, keys.app_secret), host, port, oauth=oauth)

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://{self._server.server_address[0]}:{self.port}"

    def start(self) -> FakeServer:
        if self.pay is not None:
            self.pay.start()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-wechat", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        if self.pay is not None:
            self.pay.start()
        try:
            self._server.serve_forever()
        finally:
            self.close()

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()
        if self.pay is not None:
            self.pay.stop()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
