"""The real Aliyun SMS client over HTTP against the fake (cloud/fakes/sms.py), which
recomputes the signature on its own: accepted requests, and each refusal Aliyun gives."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cloud.fakes.sms import FakeAliyunSms, FakeSmsServer
from cloud.sms.aliyun import AliyunSms, canonical_query, percent_encode, signature, string_to_sign
from cloud.sms.provider import LogProvider, make_provider

KEY, SECRET = "LTAI5tTestKey", "testSecret0123456789"
TEMPLATES = {"SMS_900001": ["station", "alarm", "gun", "severity", "time"]}
PARAMS = {"station": "一号站", "alarm": "充电枪故障", "gun": "P1-1", "severity": "严重", "time": "12-02 14:05"}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSmsServer]:
    fake = FakeAliyunSms({KEY: SECRET}, sign_names={"聚充科技"}, templates=TEMPLATES)
    with FakeSmsServer(fake) as srv:
        yield srv


def client(srv: FakeSmsServer, secret: str = SECRET, sign: str = "聚充科技") -> AliyunSms:
    return AliyunSms(KEY, secret, sign, base_url=srv.url, timeout_s=5)


def test_percent_encoding_and_string_to_sign() -> None:
    # RFC 3986 as Aliyun documents it: space %20 (not +), * %2A, ~ kept, UTF-8 bytes.
    assert percent_encode("a b*c~d/é") == "a%20b%2Ac~d%2F%C3%A9"
    params = {"b": "2", "a": "x y", "Signature": "ignored"}
    assert canonical_query(params) == "a=x%20y&b=2"
    assert string_to_sign("post", params) == "POST&%2F&a%3Dx%2520y%26b%3D2"
    # HMAC-SHA1 keyed with the secret and "&", Base64: a fixed vector of this definition.
    import base64
    import hashlib
    import hmac

    want = base64.b64encode(hmac.new(b"s&", b"POST&%2F&a%3Dx%2520y%26b%3D2", hashlib.sha1).digest()).decode()
    assert signature("s", "POST", params) == want


def test_sends_and_the_fake_holds_the_message(server: FakeSmsServer) -> None:
    r = client(server).send("13800138000", "SMS_900001", PARAMS)
    assert r.ok and r.code == "OK" and r.biz_id and r.request_id
    sent = server.fake.sent[-1]
    assert (sent.phone, sent.sign_name, sent.template_code, sent.params) == (
        "13800138000", "聚充科技", "SMS_900001", PARAMS)


def test_wrong_secret_is_refused(server: FakeSmsServer) -> None:
    r = client(server, secret="not-the-secret").send("13800138000", "SMS_900001", PARAMS)
    assert (r.ok, r.code, r.permanent) == (False, "SignatureDoesNotMatch", True)


def test_replayed_nonce_and_old_timestamp_are_refused(server: FakeSmsServer) -> None:
    c = client(server)
    params = c.request_params("13800138000", "SMS_900001", PARAMS)
    assert c.post(params).ok
    again = c.post(params)  # the same signed request replayed
    assert (again.ok, again.code) == (False, "SignatureNonceUsed")
    import time

    old = c.request_params("13800138000", "SMS_900001", PARAMS, at=time.time() - 16 * 60)
    assert c.post(old).code == "InvalidTimeStamp.Expired"
    tampered = {**c.request_params("13800138000", "SMS_900001", PARAMS), "PhoneNumbers": "13900139000"}
    assert c.post(tampered).code == "SignatureDoesNotMatch"


def test_required_parameters_and_isv_refusals(server: FakeSmsServer) -> None:
    c = client(server)
    params = c.request_params("13800138000", "SMS_900001", PARAMS)
    del params["SignatureNonce"]
    assert c.post(params).code == "MissingSignatureNonce"
    assert c.send("12345", "SMS_900001", PARAMS).code == "isv.MOBILE_NUMBER_ILLEGAL"
    assert c.send("13800138000", "SMS_404", PARAMS).code == "isv.SMS_TEMPLATE_ILLEGAL"
    assert c.send("13800138000", "SMS_900001", {"station": "x"}).code == "isv.TEMPLATE_MISSING_PARAMETERS"
    assert client(server, sign="别的签名").send("13800138000", "SMS_900001", PARAMS).code == "isv.SMS_SIGNATURE_ILLEGAL"
    server.fake.fail_next("isv.BUSINESS_LIMIT_CONTROL")
    r = c.send("13800138000", "SMS_900001", PARAMS)
    assert (r.ok, r.code, r.permanent) == (False, "isv.BUSINESS_LIMIT_CONTROL", False)
    assert "流控" in r.message
    assert AliyunSms(KEY + "x", SECRET, "聚充科技", base_url=server.url).send(
        "13800138000", "SMS_900001", PARAMS).code == "InvalidAccessKeyId.NotFound"


def test_unreachable_provider_and_provider_choice() -> None:
    r = AliyunSms(KEY, SECRET, "s", base_url="http://127.0.0.1:9", timeout_s=0.5).send("13800138000", "T", {})
    assert (r.ok, r.code, r.permanent) == (False, "network", False)
    assert isinstance(make_provider({}), LogProvider)
    cfg = {"SMS_PROVIDER": "aliyun", "ALIYUN_SMS_ACCESS_KEY_ID": KEY, "ALIYUN_SMS_ACCESS_KEY_SECRET": SECRET,
           "ALIYUN_SMS_SIGN_NAME": "聚充科技", "ALIYUN_SMS_BASE_URL": "http://x", "ALIYUN_SMS_REGION": "cn-hangzhou",
           "ALIYUN_SMS_TIMEOUT_S": 3}
    assert isinstance(make_provider(cfg), AliyunSms)
    assert LogProvider().send("13800138000", "T", {"a": "b"}).ok
