"""A client of Aliyun SMS (dysmsapi, API version 2017-05-25), action SendSms.

RPC-style request signed with signature version 1.0 (HMAC-SHA1), as Alibaba Cloud documents
it ("签名机制" of the RPC APIs):
1. every parameter but `Signature` (common and SendSms's own), sorted by name; names and
   values percent-encoded in UTF-8 (RFC 3986: A-Z a-z 0-9 - _ . ~ kept, space as %20, not
   `+`), joined as `name=value` by `&`: the canonicalized query string;
2. StringToSign = HTTPMethod & percentEncode("/") & percentEncode(canonicalized query);
3. Signature = Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign)), sent as a parameter.
Common parameters: AccessKeyId, Action, Format=JSON, RegionId, SignatureMethod=HMAC-SHA1,
SignatureNonce (unique per request), SignatureVersion=1.0, Timestamp (ISO 8601 UTC,
yyyy-MM-ddTHH:mm:ssZ), Version=2017-05-25. The answer is JSON: `Code` "OK" with `BizId`, or an
error `Code` (isv.* for SendSms's refusals, SignatureDoesNotMatch, …) and `Message`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import requests

from cloud.sms.provider import SmsResult

VERSION = "2017-05-25"


def percent_encode(value: str) -> str:
    return quote(str(value), safe="-_.~", encoding="utf-8")


def canonical_query(params: Mapping[str, str]) -> str:
    return "&".join(
        f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()) if k != "Signature"
    )


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"


def signature(secret: str, method: str, params: Mapping[str, str]) -> str:
    digest = hmac.new((secret + "&").encode(), string_to_sign(method, params).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def timestamp(at: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if at is None else at))


class AliyunSms:
    name = "aliyun"

    def __init__(self, access_key_id: str, access_key_secret: str, sign_name: str, *,
                 base_url: str = "https://dysmsapi.aliyuncs.com", region: str = "cn-hangzhou",
                 timeout_s: float = 5.0, http: requests.Session | None = None) -> None:
        self.access_key_id, self.secret, self.sign_name = access_key_id, access_key_secret, sign_name
        self.base_url, self.region, self.timeout_s = base_url.rstrip("/"), region, timeout_s
        self.http = http or requests.Session()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AliyunSms:
        return cls(str(config["ALIYUN_SMS_ACCESS_KEY_ID"]), str(config["ALIYUN_SMS_ACCESS_KEY_SECRET"]),
                   str(config["ALIYUN_SMS_SIGN_NAME"]), base_url=str(config["ALIYUN_SMS_BASE_URL"]),
                   region=str(config["ALIYUN_SMS_REGION"]), timeout_s=float(config["ALIYUN_SMS_TIMEOUT_S"]))

    def request_params(self, phone: str, template_code: str, params: Mapping[str, str], *,
                       nonce: str | None = None, at: float | None = None) -> dict[str, str]:
        """The signed parameters of one SendSms request."""
        p = {
            "AccessKeyId": self.access_key_id, "Action": "SendSms", "Format": "JSON",
            "RegionId": self.region, "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": nonce or str(uuid.uuid4()), "SignatureVersion": "1.0",
            "Timestamp": timestamp(at), "Version": VERSION,
            "PhoneNumbers": phone, "SignName": self.sign_name, "TemplateCode": template_code,
            "TemplateParam": json.dumps(dict(params), ensure_ascii=False, separators=(",", ":")),
        }  # fmt: skip
        p["Signature"] = signature(self.secret, "POST", p)
        return p

    def post(self, params: Mapping[str, str]) -> SmsResult:
        """Send already signed parameters (a form body, POST to /)."""
        try:
            resp = self.http.post(self.base_url + "/", data=dict(params), timeout=self.timeout_s,
                                  headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            return SmsResult(False, "network", f"{type(exc).__name__}: {exc}"[:500])
        try:
            body = resp.json()
        except ValueError:
            return SmsResult(False, f"http_{resp.status_code}", resp.text[:300])
        if not isinstance(body, dict):
            return SmsResult(False, f"http_{resp.status_code}", str(body)[:300])
        code = str(body.get("Code") or f"http_{resp.status_code}")
        ok = resp.status_code == 200 and code == "OK"
        return SmsResult(ok, code, str(body.get("Message") or ""), body.get("RequestId"),
                         body.get("BizId") if ok else None)

    def send(self, phone: str, template_code: str, params: Mapping[str, str]) -> SmsResult:
        return self.post(self.request_params(phone, template_code, params))
