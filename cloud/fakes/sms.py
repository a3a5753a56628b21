"""A fake Aliyun SMS (dysmsapi.aliyuncs.com) for tests and the demo: SendSms over GET (query)
or POST (form), checked the way Aliyun checks it and answered the way Aliyun answers.

Checks, in order: required common parameters (Missing<Name>), Action and Version, the
access key (InvalidAccessKeyId.NotFound), the timestamp format and its 15-minute window
(InvalidTimeStamp.Format / .Expired), the signature recomputed over the canonicalized query
(SignatureDoesNotMatch), the nonce never seen before (SignatureNonceUsed), then SendSms's own:
PhoneNumbers, SignName, TemplateCode, TemplateParam (isv.* codes). A refusal scripted with
`fail_next` answers instead of sending. What it sent is in `sent`.

    fake = FakeAliyunSms({"LTAI-test": "secret"}, sign_names={"聚充"}, templates={"SMS_1": ["station"]})
    with FakeSmsServer(fake) as srv:   # srv.url is ALIYUN_SMS_BASE_URL
        ...
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, request

from cloud.fakes.threaded import ThreadedApp

WINDOW_S = 15 * 60
COMMON = ("AccessKeyId", "Action", "Format", "SignatureMethod", "SignatureNonce", "SignatureVersion",
          "Timestamp", "Version", "Signature")
PHONE_RE = re.compile(r"(?:\+?86)?1\d{10}")


def _enc(v: str) -> str:
    from urllib.parse import quote

    return quote(v, safe="-_.~", encoding="utf-8")


def expected_signature(secret: str, method: str, params: Mapping[str, str]) -> str:
    """Aliyun's RPC signature 1.0, written here on its own (not the client's code)."""
    query = "&".join(f"{_enc(k)}={_enc(params[k])}" for k in sorted(params) if k != "Signature")
    to_sign = f"{method}&{_enc('/')}&{_enc(query)}"
    return base64.b64encode(hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()).decode()


@dataclass
class SentSms:
    phone: str
    sign_name: str
    template_code: str
    params: dict[str, Any]
    biz_id: str
    at: float


class FakeAliyunSms:
    def __init__(self, keys: Mapping[str, str], *, sign_names: set[str] | None = None,
                 templates: Mapping[str, list[str]] | None = None, clock: Any = time.time) -> None:
        self.keys = dict(keys)
        self.sign_names = sign_names  # None: any
        self.templates = dict(templates) if templates is not None else None  # code -> its variables
        self.clock = clock
        self.nonces: set[str] = set()
        self.sent: list[SentSms] = []
        self.requests = 0
        self._fail: list[str] = []
        self._lock = threading.Lock()

    def fail_next(self, code: str, times: int = 1) -> None:
        """The next `times` valid SendSms requests are refused with `code` (isv.* or other)."""
        with self._lock:
            self._fail += [code] * times

    def handle(self, method: str, params: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests += 1
            return self._handle(method, dict(params))

    def _handle(self, method: str, p: dict[str, str]) -> tuple[int, dict[str, Any]]:
        rid = str(uuid.uuid4()).upper()

        def err(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
            return status, {"RequestId": rid, "HostId": "dysmsapi.aliyuncs.com", "Code": code, "Message": message,
                            "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}"}

        for name in COMMON:
            if not p.get(name):
                return err(400, f"Missing{name}", f"{name} is mandatory for this action.")
        if p["Action"] != "SendSms":
            return err(400, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
        if p["Version"] != "2017-05-25":
            return err(400, "InvalidVersion", "Specified parameter Version is not valid.")
        if p["Format"].upper() != "JSON":
            return err(400, "InvalidParameter", "Format must be JSON for this fake.")
        if p["SignatureMethod"] != "HMAC-SHA1" or p["SignatureVersion"] != "1.0":
            return err(400, "InvalidSignatureMethod", "Specified signature method is not supported.")
        secret = self.keys.get(p["AccessKeyId"])
        if secret is None:
            return err(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        try:
            at = calendar.timegm(time.strptime(p["Timestamp"], "%Y-%m-%dT%H:%M:%SZ"))
        except ValueError:
            return err(400, "InvalidTimeStamp.Format", "Specified time stamp or date header is not valid.")
        if abs(self.clock() - at) > WINDOW_S:
            return err(400, "InvalidTimeStamp.Expired", "Specified time stamp or date header is expired.")
        if not hmac.compare_digest(expected_signature(secret, method, p), p["Signature"]):
            return err(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.")
        if p["SignatureNonce"] in self.nonces:
            return err(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        self.nonces.add(p["SignatureNonce"])
        for name in ("PhoneNumbers", "SignName", "TemplateCode"):
            if not p.get(name):
                return err(400, f"Missing{name}", f"{name} is mandatory for this action.")

        def isv(code: str, message: str) -> tuple[int, dict[str, Any]]:
            return 200, {"RequestId": rid, "Code": code, "Message": message}

        phones = p["PhoneNumbers"].split(",")
        if not all(PHONE_RE.fullmatch(x) for x in phones):
            return isv("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if self.sign_names is not None and p["SignName"] not in self.sign_names:
            return isv("isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        try:
            tparams = json.loads(p.get("TemplateParam") or "{}")
        except ValueError:
            return isv("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if not isinstance(tparams, dict) or not all(isinstance(v, str) for v in tparams.values()):
            return isv("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if self.templates is not None:
            if p["TemplateCode"] not in self.templates:
                return isv("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
            if any(v not in tparams for v in self.templates[p["TemplateCode"]]):
                return isv("isv.TEMPLATE_MISSING_PARAMETERS", "模板缺少变量")
        if any(len(v) > 35 for v in tparams.values()):
            return isv("isv.PARAM_LENGTH_LIMIT", "参数超出长度限制")
        if self._fail:
            code = self._fail.pop(0)
            return isv(code, {"isv.BUSINESS_LIMIT_CONTROL": "触发号码天级流控Permits:10",
                              "isv.AMOUNT_NOT_ENOUGH": "账户余额不足"}.get(code, "refused by the fake"))
        biz = f"{int(self.clock() * 1000)}^{uuid.uuid4().int % 10**10}"
        for phone in phones:
            self.sent.append(SentSms(phone, p["SignName"], p["TemplateCode"], tparams, biz, self.clock()))
        return 200, {"RequestId": rid, "BizId": biz, "Code": "OK", "Message": "OK"}


def make_app(fake: FakeAliyunSms) -> Flask:
    app = Flask("cloud.fakes.sms")

    @app.route("/", methods=["GET", "POST"])
    def rpc() -> Response:
        params = dict(request.args.items())
        if request.method == "POST":
            params.update(request.form.items())
        status, body = fake.handle(request.method, params)
        return Response(json.dumps(body, ensure_ascii=False), status=status,
                        content_type="application/json;charset=utf-8")

    @app.get("/fake/sms/sent")
    def sent() -> Response:
        return Response(json.dumps([s.__dict__ for s in fake.sent], ensure_ascii=False),
                        content_type="application/json;charset=utf-8")

    return app


class FakeSmsServer(ThreadedApp):
    """The fake on a free port, in a thread: `url` is what ALIYUN_SMS_BASE_URL should be."""

    thread_name = "fake-aliyun-sms"

    def __init__(self, fake: FakeAliyunSms, host: str = "127.0.0.1", port: int = 0) -> None:
        self.fake = fake
        super().__init__(make_app(fake), host, port)
