"""The fake really checks our signatures (so a broken client cannot pass against it): raw
HTTP requests signed by hand, each wrong in one way, get 401 SIGN_ERROR and change nothing."""

from __future__ import annotations

import json
import time

import pytest
import requests

from cloud.fakes.keys import new_rsa_key
from cloud.payments.wechatpay import signing
from cloud.payments.wechatpay.verify import KeyRing, verify_signed

PATH = "/v3/pay/transactions/jsapi"


def body(keys, no: str = "JC-RAW0001") -> bytes:
    return json.dumps({"appid": keys.appid, "mchid": keys.mchid, "description": "test", "out_trade_no": no,
                       "notify_url": "https://cloud.example.cn/n", "amount": {"total": 1, "currency": "CNY"},
                       "payer": {"openid": "oX"}}).encode()


def auth(keys, *, method="POST", path=PATH, data=b"", ts=None, nonce=None, key=None, mchid=None,
         serial=None) -> str:
    return signing.authorization(mchid=mchid or keys.mchid, serial_no=serial or keys.merchant_serial_no,
                                 private_key=key or keys.merchant_key, method=method, path_query=path,
                                 body=data, timestamp=int(time.time()) if ts is None else ts,
                                 nonce=nonce or signing.new_nonce())


def post(fake, data: bytes, authorization: str | None, path: str = PATH) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    return requests.post(fake.url + path, data=data, headers=headers, timeout=5)


def test_a_correctly_signed_raw_request_is_accepted(fake, keys):
    data = body(keys)
    r = post(fake, data, auth(keys, data=data))
    assert r.status_code == 200, r.text
    assert r.json()["prepay_id"].startswith("wx")
    # its answer is signed with the fake's WeChat Pay key
    ring = KeyRing.public_key(keys.wechatpay_public_key_id, keys.wechatpay_key.public_key())
    assert verify_signed(ring, r.headers, r.content, now=time.time()) == keys.wechatpay_public_key_id


@pytest.mark.parametrize("case", ["missing", "other key", "body changed", "path changed", "method changed",
                                  "stale", "future", "other mchid", "other serial", "garbled", "other scheme"])
def test_wrongly_signed_requests_get_401_sign_error(fake, keys, case):
    data = body(keys)
    sent, authorization, path = data, auth(keys, data=data), PATH
    if case == "missing":
        authorization = None
    elif case == "other key":
        authorization = auth(keys, data=data, key=new_rsa_key())
    elif case == "body changed":
        sent = data.replace(b'"total": 1', b'"total": 2')
    elif case == "path changed":
        authorization = auth(keys, data=data, path=PATH + "?x=1")
    elif case == "method changed":
        authorization = auth(keys, data=data, method="PUT")
    elif case == "stale":
        authorization = auth(keys, data=data, ts=int(time.time()) - 301)
    elif case == "future":
        authorization = auth(keys, data=data, ts=int(time.time()) + 301)
    elif case == "other mchid":
        authorization = auth(keys, data=data).replace(f'mchid="{keys.mchid}"', 'mchid="1230000109"')
    elif case == "other serial":
        authorization = auth(keys, data=data, serial="0123456789ABCDEF")
    elif case == "garbled":
        authorization = authorization.replace('",', '";')
    elif case == "other scheme":
        authorization = authorization.replace("WECHATPAY2-SHA256-RSA2048", "WECHATPAY2-SM2-WITH-SM3")
    r = post(fake, sent, authorization, path)
    assert r.status_code == 401, r.text
    assert r.json()["code"] == "SIGN_ERROR"
    assert fake.pay.orders == {}


def test_a_reused_nonce_is_refused(fake, keys):
    data = body(keys)
    header = auth(keys, data=data, nonce="FIXEDNONCE0001")
    assert post(fake, data, header).status_code == 200
    again = post(fake, data, header)
    assert again.status_code == 401 and again.json()["code"] == "SIGN_ERROR"


def test_pay_sign_from_another_key_is_refused(fake, keys):
    data = body(keys)
    prepay = post(fake, data, auth(keys, data=data)).json()["prepay_id"]
    ts, nonce, package = str(int(time.time())), "N0NCE", f"prepay_id={prepay}"
    forged = signing.sign(new_rsa_key(), signing.pay_sign_message(keys.appid, ts, nonce, package))
    r = requests.post(fake.url + "/fake/request-payment", timeout=5, json={
        "appId": keys.appid, "timeStamp": ts, "nonceStr": nonce, "package": package, "signType": "RSA",
        "paySign": forged})
    assert r.status_code == 401 and r.json()["code"] == "SIGN_ERROR"
    assert fake.pay.orders["JC-RAW0001"].trade_state == "NOTPAY"
