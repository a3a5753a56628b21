"""Our WeChat Pay client against the fake over real HTTP: orders, query, close, and every
answer the client must refuse (tampered, wrong key, stale, unsigned, probe, wrong serial)."""

from __future__ import annotations

import dataclasses
import socket
from datetime import UTC, datetime, timedelta

import pytest

from cloud.fakes.keys import new_rsa_key
from cloud.fakes.wechatpay import Faults
from cloud.payments.errors import (
    AmountMismatch,
    ProviderError,
    ProviderUnavailable,
    SignatureInvalid,
)
from cloud.payments.provider import NewOrder, PaymentProvider, TradeState
from cloud.payments.wechatpay import WechatPayClient, WechatPayConfig, signing

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


def order(no: str = "JC20261202000001", total: int = 5000, **kw) -> NewOrder:
    return NewOrder(out_trade_no=no, description="聚充-钱包充值", total_fen=total, payer_openid=OPENID, **kw)


def test_client_is_a_payment_provider(client):
    assert isinstance(client, PaymentProvider)


def test_jsapi_order_gives_signed_request_payment_parameters(client, fake, keys):
    params = client.create_jsapi_order(order(attach="wallet:42"))
    stored = fake.pay.orders["JC20261202000001"]
    assert params.prepay_id == stored.prepay_id
    assert stored.request["amount"] == {"total": 5000, "currency": "CNY"}
    assert stored.request["payer"] == {"openid": OPENID}
    assert stored.request["notify_url"] == "https://cloud.example.cn/api/v1/pay/wechat/notify"
    rp = params.for_request_payment()
    assert set(rp) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert rp["signType"] == "RSA" and rp["package"] == f"prepay_id={stored.prepay_id}"
    msg = signing.pay_sign_message(keys.appid, rp["timeStamp"], rp["nonceStr"], rp["package"])
    assert signing.verify(keys.merchant_key.public_key(), msg, rp["paySign"])
    # the fake's wx.requestPayment accepts exactly these parameters...
    assert fake.pay.check_pay_params(rp).out_trade_no == "JC20261202000001"
    # ...and none with a changed field
    for field in ("timeStamp", "nonceStr", "package"):
        with pytest.raises(Exception, match="paySign|prepay"):
            fake.pay.check_pay_params({**rp, field: rp[field] + "0"})


def test_same_order_again_same_prepay_id_other_parameters_refused(client):
    first = client.create_jsapi_order(order())
    assert client.create_jsapi_order(order()).prepay_id == first.prepay_id
    with pytest.raises(ProviderError) as e:
        client.create_jsapi_order(order(total=5001))
    assert (e.value.status, e.value.code) == (403, "OUT_TRADE_NO_USED")


def test_query_pay_close(client, fake):
    client.create_jsapi_order(order("JC-A|1*"))  # every character WeChat allows, percent-encoded in the path
    tx = client.query_order("JC-A|1*")
    assert (tx.trade_state, tx.total_fen, tx.paid, tx.transaction_id) == (TradeState.NOTPAY, 5000, False, None)
    fake.pay.pay("JC-A|1*")
    tx = client.query_order("JC-A|1*")
    assert tx.trade_state == TradeState.SUCCESS and tx.paid and tx.transaction_id
    assert tx.payer_openid == OPENID and tx.success_time is not None
    tx.expect_total(5000)
    with pytest.raises(ProviderError) as e:
        client.close_order("JC-A|1*")
    assert e.value.code == "ORDERPAID"

    client.create_jsapi_order(order("JC-B0001"))
    client.close_order("JC-B0001")
    assert client.query_order("JC-B0001").trade_state == TradeState.CLOSED
    with pytest.raises(ProviderError) as e:
        client.create_jsapi_order(order("JC-B0001"))
    assert e.value.code == "ORDER_CLOSED"


def test_unknown_order_is_a_404_error(client):
    with pytest.raises(ProviderError) as e:
        client.query_order("JC-NOSUCH")
    assert (e.value.status, e.value.code, e.value.verified) == (404, "ORDER_NOT_EXIST", True)


def test_expired_order_reads_closed(client, fake):
    client.create_jsapi_order(order("JC-EXP01", time_expire=datetime.now(UTC) + timedelta(minutes=1)))
    fake.pay.clock = lambda: datetime.now(UTC).timestamp() + 120
    fake.pay.faults = Faults(skew_s=-120)  # keep the fake's answers on our clock
    assert client.query_order("JC-EXP01").trade_state == TradeState.CLOSED


def test_wrong_amount_reported_by_the_provider_is_caught(client, fake):
    client.create_jsapi_order(order("JC-AMT001", total=5000))
    fake.pay.pay("JC-AMT001")
    fake.pay.faults = Faults(report_total_fen=1)
    with pytest.raises(AmountMismatch) as e:
        client.query_order("JC-AMT001").expect_total(5000)
    assert (e.value.expected, e.value.got) == (5000, 1)


@pytest.mark.parametrize("faults, code", [
    (Faults(tamper_body=True), "BAD_SIGNATURE"),
    (Faults(sign_with=new_rsa_key()), "BAD_SIGNATURE"),
    (Faults(skew_s=-301), "STALE_TIMESTAMP"),
    (Faults(skew_s=+301), "STALE_TIMESTAMP"),
    (Faults(unsigned=True), "SIGNATURE_MISSING"),
    (Faults(probe=True), "SIGNATURE_PROBE"),
    (Faults(serial="PUB_KEY_ID_0114232020000000000000000001"), "UNKNOWN_SERIAL"),
])
def test_answers_that_fail_verification_are_refused(client, fake, faults, code):
    client.create_jsapi_order(order("JC-VER001"))
    fake.pay.faults = faults
    with pytest.raises(SignatureInvalid) as e:
        client.query_order("JC-VER001")
    assert e.value.code == code
    with pytest.raises(SignatureInvalid):
        client.create_jsapi_order(order("JC-VER002"))
    fake.pay.faults = Faults()
    assert client.query_order("JC-VER001").trade_state == TradeState.NOTPAY


def test_an_unverified_error_answer_says_so(client, fake):
    fake.pay.faults = Faults(sign_with=new_rsa_key())
    with pytest.raises(ProviderError) as e:
        client.query_order("JC-NOSUCH")
    assert e.value.code == "ORDER_NOT_EXIST" and e.value.verified is False


def test_wrong_merchant_key_gets_sign_error_from_the_fake(config, fake):
    bad = WechatPayClient(dataclasses.replace(config, merchant_private_key=new_rsa_key()))
    with pytest.raises(ProviderError) as e:
        bad.create_jsapi_order(order())
    assert (e.value.status, e.value.code) == (401, "SIGN_ERROR")
    assert fake.pay.orders == {}
    wrong_serial = WechatPayClient(dataclasses.replace(config, merchant_serial_no="ABCDEF"))
    with pytest.raises(ProviderError) as e:
        wrong_serial.query_order("JC-ANY001")
    assert e.value.code == "SIGN_ERROR"


def test_client_clock_off_by_more_than_five_minutes_gets_sign_error(config, fake):
    skewed = WechatPayClient(config, clock=lambda: datetime.now(UTC).timestamp() - 400)
    with pytest.raises(ProviderError) as e:
        skewed.create_jsapi_order(order())
    assert e.value.code == "SIGN_ERROR"


def test_timeout_and_connection_refused_are_provider_unavailable(config, fake):
    quick = WechatPayClient(dataclasses.replace(config, read_timeout_s=0.3))
    fake.pay.faults = Faults(delay_s=1.0)
    with pytest.raises(ProviderUnavailable, match="no answer within 0.3 s"):
        quick.query_order("JC-SLOW001")
    fake.pay.faults = Faults()
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    down = WechatPayClient(dataclasses.replace(config, base_url=f"http://127.0.0.1:{closed}"))
    with pytest.raises(ProviderUnavailable):
        down.query_order("JC-DOWN001")


@pytest.mark.parametrize("status, code", [(500, "SYSTEM_ERROR"), (502, "BAD_GATEWAY"),
                                          (429, "FREQUENCY_LIMITED")])
def test_server_errors_and_rate_limits_mean_retry_later(client, fake, status, code):
    fake.pay.faults = Faults(fail_with=(status, code))
    with pytest.raises(ProviderUnavailable) as e:
        client.create_jsapi_order(order("JC-5XX0001"))
    assert e.value.code == "PROVIDER_UNAVAILABLE" and code in e.value.message
    fake.pay.faults = Faults()
    assert client.create_jsapi_order(order("JC-5XX0001")).prepay_id  # the same number, retried


def test_certificate_mode_client_against_a_certificate_mode_fake(keys, key_dir, fake):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(keys.wechatpay_key.public_key()).serial_number(0x3775B6A45ACD588826D15E583A95F5DD)
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
            .sign(keys.wechatpay_key, hashes.SHA256()))
    path = key_dir / "wechatpay_platform.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    settings = keys.settings(key_dir, fake.url)
    del settings["WECHATPAY_PUBLIC_KEY_FILE"], settings["WECHATPAY_PUBLIC_KEY_ID"]
    settings["WECHATPAY_PLATFORM_CERT_FILES"] = str(path)
    fake.pay.signing_serial = "3775B6A45ACD588826D15E583A95F5DD"
    cert_client = WechatPayClient(WechatPayConfig.from_settings(settings))
    assert cert_client.create_jsapi_order(order("JC-CERT001")).prepay_id
    assert cert_client.query_order("JC-CERT001").trade_state == TradeState.NOTPAY
