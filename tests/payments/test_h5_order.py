"""The H5 app's two ways to pay, our real client against the fake over HTTP: WeChat Pay H5
orders (POST /v3/pay/transactions/h5, scene_info checked by the fake, h5_url its cashier page)
and JSAPI orders under the official account's appid with that account's openid (the
parameters of WeixinJSBridge getBrandWCPayRequest signed for that appid)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from cloud.fakes.keys import new_rsa_key
from cloud.fakes.wechatpay import FakeApiError
from cloud.payments.errors import InvalidPaymentRequest, ProviderError
from cloud.payments.provider import H5Payment, NewOrder
from cloud.payments.wechatpay import WechatPayClient, signing
from tests.payments.test_fake_refuses import auth, post

H5 = "/v3/pay/transactions/h5"


def order(no: str, total: int = 5000, payer_openid: str = "", **kw) -> NewOrder:
    return NewOrder(
        out_trade_no=no,
        description="聚充-钱包充值",
        total_fen=total,
        payer_openid=payer_openid,
        time_expire=datetime.now(UTC) + timedelta(minutes=30),
        **kw,
    )


def h5_body(keys, no: str = "JC-H5RAW001", **changes) -> dict:
    body = {
        "appid": keys.oa_appid,
        "mchid": keys.mchid,
        "description": "test",
        "out_trade_no": no,
        "notify_url": "https://cloud.example.cn/api/v1/pay/wechat/notify",
        "amount": {"total": 100, "currency": "CNY"},
        "scene_info": {"payer_client_ip": "203.0.113.7", "h5_info": {"type": "Wap"}},
    }
    body.update(changes)
    return body


def test_h5_order_gives_the_cashier_address_and_the_fake_holds_what_was_sent(client, fake, keys):
    new = order("TU20261202H5A0001")  # one expiry: a second's tick between two order() calls changes it
    got = client.create_h5_order(new, "203.0.113.7")
    assert isinstance(got, H5Payment)
    parts = urlsplit(got.h5_url)
    assert f"{parts.scheme}://{parts.netloc}" == fake.url and parts.path == "/fake/h5pay/checkmweb"
    held = fake.pay.orders["TU20261202H5A0001"]
    assert (held.trade_type, held.appid, held.total, held.payer_client_ip) == (
        "MWEB",
        keys.oa_appid,
        5000,
        "203.0.113.7",
    )
    assert held.request["scene_info"] == {
        "payer_client_ip": "203.0.113.7",
        "h5_info": {"type": "Wap"},
    }
    assert held.notify_url == client.config.notify_url and "payer" not in held.request
    assert parse_qs(parts.query)["prepay_id"] == [held.prepay_id]
    # the same order again is the same payment; other parameters under its number are refused
    assert client.create_h5_order(new, "203.0.113.7").h5_url == got.h5_url
    with pytest.raises(ProviderError) as e:
        client.create_h5_order(replace(new, total_fen=5001), "203.0.113.7")
    assert e.value.code == "OUT_TRADE_NO_USED"
    assert got.with_redirect("http://127.0.0.1/app/#/wallet?paid=1").endswith(
        "&redirect_url=http%3A%2F%2F127.0.0.1%2Fapp%2F%23%2Fwallet%3Fpaid%3D1"
    )


def test_h5_order_signed_with_another_key_is_refused_by_the_fake(config, fake):
    stranger = WechatPayClient(replace(config, merchant_private_key=new_rsa_key()))
    with pytest.raises(ProviderError) as e:
        stranger.create_h5_order(order("TU20261202H5A0002"), "203.0.113.7")
    assert (e.value.status, e.value.code) == (401, "SIGN_ERROR")
    assert fake.pay.orders == {}


@pytest.mark.parametrize("ip", ["", "203.0.113", "203.0.113.7:443", "localhost"])
def test_client_refuses_to_send_without_the_payers_ip(client, fake, ip):
    with pytest.raises(InvalidPaymentRequest) as e:
        client.create_h5_order(order("TU20261202H5A0003"), ip)
    assert e.value.field == "payer_client_ip"
    assert fake.pay.requests_seen == []


@pytest.mark.parametrize(
    "case",
    [
        "no ip",
        "bad ip",
        "no h5_info",
        "type",
        "appid",
        "mchid",
        "amount zero",
        "amount text",
        "notify http",
        "notify query",
        "payer",
    ],
)
def test_fake_checks_every_h5_field(fake, keys, case):
    scene = {"payer_client_ip": "203.0.113.7", "h5_info": {"type": "Wap"}}
    changes = {
        "no ip": {"scene_info": {"h5_info": {"type": "Wap"}}},
        "bad ip": {"scene_info": {**scene, "payer_client_ip": "999.1.1.1"}},
        "no h5_info": {"scene_info": {"payer_client_ip": "203.0.113.7"}},
        "type": {"scene_info": {**scene, "h5_info": {"type": "Web"}}},
        "appid": {"appid": "wx0000000000000000"},
        "mchid": {"mchid": "1230000109"},
        "amount zero": {"amount": {"total": 0, "currency": "CNY"}},
        "amount text": {"amount": {"total": "100", "currency": "CNY"}},
        "notify http": {"notify_url": "http://cloud.example.cn/n"},
        "notify query": {"notify_url": "https://cloud.example.cn/n?x=1"},
        "payer": {"payer": {"openid": "oX"}},
    }[case]
    data = json.dumps(h5_body(keys, **changes)).encode()
    r = post(fake, data, auth(keys, data=data, path=H5), H5)
    assert r.status_code == 400, r.text
    assert r.json()["code"] in ("PARAM_ERROR", "APPID_MCHID_NOT_MATCH")
    assert fake.pay.orders == {}
    good = json.dumps(h5_body(keys)).encode()
    assert post(fake, good, auth(keys, data=good, path=H5), H5).status_code == 200


def test_h5_cashier_pays_then_sends_the_signed_encrypted_callback(client, fake, receiver, keys):
    got = client.create_h5_order(order("TU20261202H5A0004", total=5000), "203.0.113.7")
    back = "http://127.0.0.1:5000/app/#/wallet?paid=TU20261202H5A0004"
    page = requests.get(got.with_redirect(back), timeout=5)
    assert page.status_code == 200 and "¥50.00" in page.text and 'id="pay"' in page.text
    # a changed package (another payment's address) shows no order
    assert requests.get(got.h5_url.replace("package=", "package=1"), timeout=5).status_code == 400
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    assert form["redirect_url"] == back
    paid = requests.post(
        fake.url + "/fake/h5pay/checkmweb", data={**form, "action": "pay"}, timeout=5
    )
    assert 'data-state="paid"' in paid.text and f'href="{back}"' in paid.text.replace("&amp;", "&")
    note = receiver.wait(1)[0]
    notice = client.parse_payment_notification(note.headers, note.body)
    tx = notice.transaction
    assert (tx.out_trade_no, tx.total_fen, tx.trade_state.value) == (
        "TU20261202H5A0004",
        5000,
        "SUCCESS",
    )
    assert tx.transaction_id and tx.payer_openid  # the payer is known once they paid
    assert client.query_order("TU20261202H5A0004").paid
    # paid: the cashier shows it so, and pays nothing twice
    again = requests.post(
        fake.url + "/fake/h5pay/checkmweb", data={**form, "action": "pay"}, timeout=5
    )
    assert again.status_code == 400


def test_oa_jsapi_order_is_made_and_signed_for_the_official_account(client, fake, keys):
    openid = fake.oauth.remember("oa-alice")
    params = client.create_jsapi_order(
        order("TU20261202OA00001", payer_openid=openid, appid=keys.oa_appid)
    )
    sent = params.for_request_payment()
    assert sent["appId"] == keys.oa_appid and sent["signType"] == "RSA"
    msg = signing.pay_sign_message(
        keys.oa_appid, sent["timeStamp"], sent["nonceStr"], sent["package"]
    )
    assert signing.verify(keys.merchant_key.public_key(), msg, sent["paySign"])
    held = fake.pay.check_pay_params(sent)
    assert (held.appid, held.openid, held.trade_type) == (keys.oa_appid, openid, "JSAPI")
    # signed for the mini-program's appid, or the appId changed: the bridge refuses it
    for bad in (
        {**sent, "appId": keys.appid},
        {**sent, "paySign": client.pay_params(params.prepay_id).pay_sign},
    ):
        with pytest.raises(FakeApiError):
            fake.pay.check_pay_params(bad)
    fake.pay.pay(held.out_trade_no)
    assert client.query_order("TU20261202OA00001").payer_openid == openid


def test_oa_jsapi_with_the_mini_programs_openid_is_refused(client, fake, keys):
    mini_openid = fake.login.openid_for("oa-bob")
    with pytest.raises(ProviderError) as e:
        client.create_jsapi_order(
            order("TU20261202OA00002", payer_openid=mini_openid, appid=keys.oa_appid)
        )
    assert e.value.code == "PARAM_ERROR"
    with pytest.raises(InvalidPaymentRequest):
        client.create_jsapi_order(
            order("TU20261202OA00003", payer_openid="oX", appid="wx0000000000000000")
        )
    assert fake.pay.orders == {}
