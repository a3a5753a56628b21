"""What WeChat documents as invalid is refused by our client before anything is sent, with
the field named; settings that cannot work are refused at start with the key named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from cloud.config import ConfigError
from cloud.payments import provider_from_settings
from cloud.payments.errors import InvalidPaymentRequest
from cloud.payments.provider import NewOrder
from cloud.payments.wechatpay import WechatPayClient, WechatPayConfig

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


def order(**kw) -> NewOrder:
    base = {"out_trade_no": "JC20261202000001", "description": "聚充-钱包充值", "total_fen": 5000,
            "payer_openid": OPENID}
    return NewOrder(**{**base, **kw})


@pytest.mark.parametrize("kw, field", [
    ({"out_trade_no": "12345"}, "out_trade_no"),  # 5: too short
    ({"out_trade_no": "1" * 33}, "out_trade_no"),
    ({"out_trade_no": "JC 123456"}, "out_trade_no"),
    ({"out_trade_no": "JC#123456"}, "out_trade_no"),
    ({"out_trade_no": "JC单号123456"}, "out_trade_no"),
    ({"description": ""}, "description"),
    ({"description": "充" * 128}, "description"),
    ({"description": "line\nbreak"}, "description"),
    ({"total_fen": 0}, "total_fen"),
    ({"total_fen": -1}, "total_fen"),
    ({"total_fen": 50.0}, "total_fen"),
    ({"total_fen": True}, "total_fen"),
    ({"payer_openid": ""}, "payer_openid"),
    ({"attach": "a" * 129}, "attach"),
    ({"notify_url": "http://cloud.example.cn/notify"}, "notify_url"),
    ({"notify_url": "https://cloud.example.cn/notify?order=1"}, "notify_url"),
    ({"notify_url": "https://cloud.example.cn/notify#x"}, "notify_url"),
    ({"notify_url": "/api/notify"}, "notify_url"),
    ({"notify_url": "https://cloud.example.cn/" + "n" * 250}, "notify_url"),
    ({"time_expire": datetime(2030, 1, 1)}, "time_expire"),  # naive
    ({"time_expire": datetime.now(UTC) - timedelta(seconds=1)}, "time_expire"),
])
def test_documented_rules_refused_before_sending(client, fake, kw, field):
    with pytest.raises(InvalidPaymentRequest) as e:
        client.create_jsapi_order(order(**kw))
    assert e.value.field == field and e.value.code == "INVALID_REQUEST"
    assert fake.pay.requests_seen == []


@pytest.mark.parametrize("kw", [
    {"out_trade_no": "123456"}, {"out_trade_no": "A" * 32}, {"out_trade_no": "a_b-c|d*e"},
    {"description": "充" * 127}, {"attach": "a" * 128},
    {"time_expire": datetime.now(timezone(timedelta(hours=8))) + timedelta(hours=2)},
])
def test_documented_limits_are_accepted(client, fake, kw):
    client.create_jsapi_order(order(**kw))
    sent = fake.pay.orders[kw.get("out_trade_no", "JC20261202000001")].request
    if "time_expire" in kw:
        assert sent["time_expire"] == kw["time_expire"].replace(microsecond=0).isoformat()
        assert sent["time_expire"].endswith("+08:00")


def test_query_and_close_refuse_bad_numbers_before_sending(client, fake):
    for call in (client.query_order, client.close_order):
        with pytest.raises(InvalidPaymentRequest):
            call("../../v3/x")
    with pytest.raises(InvalidPaymentRequest):
        client.query_refund("RF/1")
    assert fake.pay.requests_seen == []


def test_the_fake_applies_the_same_rules(fake, keys, key_dir):
    """A client that skipped validation would still be refused: PARAM_ERROR from the fake."""
    import json
    import time

    import requests

    from cloud.payments.wechatpay import signing

    body = json.dumps({"appid": keys.appid, "mchid": keys.mchid, "description": "x", "out_trade_no": "12345",
                       "notify_url": "https://a.cn/n?x=1", "amount": {"total": 1}, "payer": {"openid": "o"}}).encode()
    path = "/v3/pay/transactions/jsapi"
    auth = signing.authorization(mchid=keys.mchid, serial_no=keys.merchant_serial_no,
                                 private_key=keys.merchant_key, method="POST", path_query=path, body=body,
                                 timestamp=int(time.time()), nonce=signing.new_nonce())
    r = requests.post(fake.url + path, data=body, timeout=5,
                      headers={"Authorization": auth, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "PARAM_ERROR"
    assert "out_trade_no" in r.json()["message"]


def test_settings_name_the_key_that_is_wrong(settings):
    WechatPayConfig.from_settings(settings)
    for key, value, message in [
        ("WECHATPAY_MCHID", "", "WECHATPAY_MCHID: not set"),
        ("WECHATPAY_APIV3_KEY", "short", "WECHATPAY_APIV3_KEY: must be 32 bytes"),
        ("WECHATPAY_MCH_PRIVATE_KEY_FILE", "/nonexistent/apiclient_key.pem", "cannot read"),
        ("WECHATPAY_PUBLIC_KEY_ID", "", "WECHATPAY_PUBLIC_KEY_ID: not set"),
        ("WECHATPAY_PUBLIC_KEY_ID", "ABC", "PUB_KEY_ID_"),
        ("WECHATPAY_NOTIFY_URL", "http://cloud.example.cn/n", "https"),
        ("WECHATPAY_REFUND_NOTIFY_URL", "https://cloud.example.cn/n?a=1", "query"),
        ("WECHATPAY_BASE_URL", "http://pay.example.cn", "https"),
        ("WECHATPAY_READ_TIMEOUT_S", "soon", "expected seconds"),
        ("WECHATPAY_CONNECT_TIMEOUT_S", "0", "outside"),
    ]:
        with pytest.raises(ConfigError, match=message):
            WechatPayConfig.from_settings({**settings, key: value})
    no_keys = {k: v for k, v in settings.items() if k not in ("WECHATPAY_PUBLIC_KEY_FILE",)}
    with pytest.raises(ConfigError, match="verification key"):
        WechatPayConfig.from_settings(no_keys)
    with pytest.raises(ConfigError, match="not an unencrypted PEM private key"):
        WechatPayConfig.from_settings({**settings, "WECHATPAY_MCH_PRIVATE_KEY_FILE":
                                       settings["WECHATPAY_PUBLIC_KEY_FILE"]})


def test_provider_table(settings):
    assert isinstance(provider_from_settings(settings), WechatPayClient)
    with pytest.raises(ValueError, match="unknown payment provider"):
        provider_from_settings(settings, "alipay")
