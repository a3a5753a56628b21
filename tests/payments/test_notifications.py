"""Payment and refund notifications as they arrive over HTTP from the fake: verified,
decrypted and checked; forged, tampered, replayed, stale, foreign and wrong-amount ones refused;
WeChat's retry schedule when the callback fails."""

from __future__ import annotations

import json
import time

import pytest

from cloud.fakes.keys import new_rsa_key
from cloud.fakes.notifier import RETRY_SCHEDULE_S
from cloud.fakes.wechatpay import Faults
from cloud.payments.errors import (
    AmountMismatch,
    DecryptionFailed,
    NotificationInvalid,
    SignatureInvalid,
)
from cloud.payments.provider import NewOrder, RefundRequest, RefundStatus, TradeState
from cloud.payments.wechatpay import WechatPayClient, aead, signing
from tests.payments.conftest import RETRY_SCALE

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


def paid(client, fake, receiver, no: str = "JC-NTF0001", total: int = 5000):
    client.create_jsapi_order(NewOrder(no, "聚充-钱包充值", total, OPENID))
    fake.pay.pay(no)
    return receiver.wait(len(receiver.received) + 1)[-1]


def resign(keys, body: bytes, *, ts: int | None = None, key=None) -> dict[str, str]:
    """Headers for `body` signed like WeChat Pay would (or with another key)."""
    ts = int(time.time()) if ts is None else ts
    nonce = signing.new_nonce()
    return {"Wechatpay-Timestamp": str(ts), "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signing.sign(key or keys.wechatpay_key, signing.response_message(ts, nonce, body)),
            "Wechatpay-Serial": keys.wechatpay_public_key_id,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"}


def test_payment_notification_verified_and_decrypted(client, fake, receiver, keys):
    got = paid(client, fake, receiver)
    assert got.path == "/api/v1/pay/wechat/notify"
    envelope = json.loads(got.body)
    assert envelope["resource"]["algorithm"] == "AEAD_AES_256_GCM"
    assert "JC-NTF0001" not in got.body.decode()  # the content travels encrypted
    notice = client.parse_payment_notification(got.headers, got.body)
    tx = notice.transaction
    assert notice.event_type == "TRANSACTION.SUCCESS" and notice.id == envelope["id"]
    assert (tx.out_trade_no, tx.trade_state, tx.total_fen, tx.payer_total_fen, tx.payer_openid) == \
        ("JC-NTF0001", TradeState.SUCCESS, 5000, 5000, OPENID)
    assert tx.transaction_id == fake.pay.orders["JC-NTF0001"].transaction_id
    tx.expect_total(5000)
    assert client.notification_reply(True).status in (200, 204)
    fail = client.notification_reply(False, "database down")
    assert fail.status >= 400 and json.loads(fail.body) == {"code": "FAIL", "message": "database down"}


def test_replayed_notification_is_refused(client, fake, receiver):
    got = paid(client, fake, receiver)
    client.parse_payment_notification(got.headers, got.body)
    with pytest.raises(SignatureInvalid) as e:
        client.parse_payment_notification(got.headers, got.body)
    assert e.value.code == "REPLAYED"


def test_replay_after_five_minutes_is_stale(config, fake, receiver):
    late = WechatPayClient(config, clock=lambda: time.time() + 301)
    got = paid(WechatPayClient(config), fake, receiver)
    with pytest.raises(SignatureInvalid) as e:
        late.parse_payment_notification(got.headers, got.body)
    assert e.value.code == "STALE_TIMESTAMP"


def test_tampered_forged_and_probe_notifications_are_refused(client, fake, receiver, keys):
    got = paid(client, fake, receiver)
    tampered = got.body.replace(b"TRANSACTION.SUCCESS", b"TRANSACTION.SUCCESs")
    with pytest.raises(SignatureInvalid) as e:
        client.parse_payment_notification(got.headers, tampered)
    assert e.value.code == "BAD_SIGNATURE"
    with pytest.raises(SignatureInvalid) as e:
        client.parse_payment_notification(resign(keys, got.body, key=new_rsa_key()), got.body)
    assert e.value.code == "BAD_SIGNATURE"
    probe = dict(got.headers)
    probe["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + probe["Wechatpay-Signature"]
    with pytest.raises(SignatureInvalid) as e:
        client.parse_payment_notification(probe, got.body)
    assert e.value.code == "SIGNATURE_PROBE"
    with pytest.raises(SignatureInvalid) as e:
        client.parse_payment_notification({}, got.body)
    assert e.value.code == "SIGNATURE_MISSING"


def test_validly_signed_but_undecryptable_or_foreign_content_is_refused(client, fake, receiver, keys):
    got = paid(client, fake, receiver)
    envelope = json.loads(got.body)
    # a ciphertext changed by someone holding the signing key still fails AES-GCM's tag
    ct = envelope["resource"]["ciphertext"]
    envelope["resource"]["ciphertext"] = ("A" if ct[0] != "A" else "B") + ct[1:]
    body = json.dumps(envelope).encode()
    with pytest.raises(DecryptionFailed):
        client.parse_payment_notification(resign(keys, body), body)
    # encrypted with another APIv3 key
    envelope = json.loads(got.body)
    envelope["resource"]["ciphertext"] = aead.encrypt(b"K" * 32, nonce=envelope["resource"]["nonce"],
                                                      associated_data="transaction", plaintext=b"{}")
    body = json.dumps(envelope).encode()
    with pytest.raises(DecryptionFailed):
        client.parse_payment_notification(resign(keys, body), body)

    def forged(content: dict, event: str = "TRANSACTION.SUCCESS", original: str = "transaction") -> bytes:
        env = json.loads(got.body)
        env["event_type"] = event
        env["resource"]["original_type"] = original
        env["resource"]["ciphertext"] = aead.encrypt(keys.apiv3_key, nonce=env["resource"]["nonce"],
                                                     associated_data=env["resource"]["associated_data"],
                                                     plaintext=json.dumps(content).encode())
        return json.dumps(env).encode()

    good = fake.pay.transaction(fake.pay.orders["JC-NTF0001"])
    for content, event, original, message in [
        ({**good, "mchid": "1230000109"}, "TRANSACTION.SUCCESS", "transaction", "merchant"),
        ({**good, "appid": "wx0000000000000000"}, "TRANSACTION.SUCCESS", "transaction", "appid"),
        ({**good, "trade_state": "NOTPAY"}, "TRANSACTION.SUCCESS", "transaction", "trade_state"),
        ({**good, "amount": {"total": "5000"}}, "TRANSACTION.SUCCESS", "transaction", "whole number"),
        (good, "REFUND.SUCCESS", "transaction", "not a payment event"),
        (good, "TRANSACTION.SUCCESS", "refund", "original_type"),
    ]:
        body = forged(content, event, original)
        with pytest.raises(NotificationInvalid, match=message):
            client.parse_payment_notification(resign(keys, body), body)


def test_wrong_amount_notification_is_caught_by_the_amount_check(client, fake, receiver):
    fake.pay.faults = Faults(report_total_fen=4999)
    got = paid(client, fake, receiver, total=5000)
    notice = client.parse_payment_notification(got.headers, got.body)
    with pytest.raises(AmountMismatch) as e:
        notice.transaction.expect_total(5000)
    assert (e.value.expected, e.value.got, e.value.code) == (5000, 4999, "AMOUNT_MISMATCH")


def test_failed_callback_is_retried_on_wechat_s_schedule_with_the_same_id(client, fake, receiver):
    receiver.answers = [500, 404]  # then 204
    client.create_jsapi_order(NewOrder("JC-RETRY01", "充值", 100, OPENID))
    fake.pay.pay("JC-RETRY01")
    got = receiver.wait(3)
    deliveries = fake.pay.notifier.wait_for(lambda ds: len(ds) >= 3)
    assert [(d.attempt, d.status) for d in deliveries] == [(0, 500), (1, 404), (2, 204)]
    gaps = [b.at - a.at for a, b in zip(deliveries, deliveries[1:], strict=False)]
    for gap, step in zip(gaps, RETRY_SCHEDULE_S, strict=False):
        assert gap >= step * RETRY_SCALE * 0.9
    ids = {json.loads(r.body)["id"] for r in got}
    assert len(ids) == 1
    # every attempt is signed afresh: each verifies, none is a replay of another
    notices = [client.parse_payment_notification(r.headers, r.body) for r in got]
    assert {n.transaction.out_trade_no for n in notices} == {"JC-RETRY01"}
    time.sleep(0.2)
    assert len(receiver.received) == 3 and fake.pay.notifier.pending() == 0


def test_a_callback_slower_than_the_limit_counts_as_failed_and_is_retried(client, fake, receiver):
    fake.pay.notifier.answer_within_s = 0.2  # WeChat's 5 s, scaled down
    receiver.delay_s = 0.5
    client.create_jsapi_order(NewOrder("JC-SLOW0001", "充值", 100, OPENID))
    fake.pay.pay("JC-SLOW0001")
    first = fake.pay.notifier.wait_for(lambda ds: len(ds) >= 1)[0]
    assert first.status is None and "Timeout" in first.error and not first.ok
    receiver.delay_s = 0.0
    deliveries = fake.pay.notifier.wait_for(lambda ds: any(d.ok for d in ds))
    assert deliveries[-1].attempt >= 1 and deliveries[-1].ok


def test_wechat_s_signature_probe_is_refused(client, fake, receiver):
    receiver.answers = [401]  # what a correct callback endpoint answers a probe
    fake.pay.send_probe("https://cloud.example.cn/api/v1/pay/wechat/notify")
    got = receiver.wait(1)[0]
    assert got.headers["Wechatpay-Signature"].startswith("WECHATPAY/SIGNTEST/")
    with pytest.raises(SignatureInvalid) as e:
        client.parse_payment_notification(got.headers, got.body)
    assert e.value.code == "SIGNATURE_PROBE"
    # the rest of the probe is well-formed: only the signature check stands between it and a credit
    genuine = {**got.headers, "Wechatpay-Signature": got.headers["Wechatpay-Signature"].removeprefix(
        "WECHATPAY/SIGNTEST/")}
    assert WechatPayClient(client.config).parse_payment_notification(genuine, got.body).transaction.total_fen == 1
    fake.pay.notifier.wait_for(lambda ds: len(ds) >= 1)
    time.sleep(0.1)
    assert [(d.event_type, d.status) for d in fake.pay.deliveries] == [("PROBE", 401)]  # never retried


def test_retry_schedule_is_wechat_s_and_adds_up_to_24h4m():
    assert sum(RETRY_SCHEDULE_S) == 24 * 3600 + 4 * 60
    assert len(RETRY_SCHEDULE_S) == 15


def test_refund_notification(client, fake, receiver):
    paid(client, fake, receiver, "JC-RFN0001", 3000)
    refund = client.refund(RefundRequest("RF-JC-RFN0001-1", "JC-RFN0001", 1200, 3000, reason="余额退款"))
    assert refund.status in (RefundStatus.PROCESSING, RefundStatus.SUCCESS)
    got = receiver.wait(2)[-1]
    assert got.path == "/api/v1/pay/wechat/refund-notify"
    notice = client.parse_refund_notification(got.headers, got.body)
    assert notice.event_type == "REFUND.SUCCESS"
    r = notice.refund
    assert (r.out_refund_no, r.out_trade_no, r.status, r.refund_fen, r.total_fen, r.refund_id) == \
        ("RF-JC-RFN0001-1", "JC-RFN0001", RefundStatus.SUCCESS, 1200, 3000, refund.refund_id)
    r.expect_amounts(1200, 3000)
    with pytest.raises(AmountMismatch):
        r.expect_amounts(1300, 3000)
    # a refund notification is not a payment notification (a fresh client: no replay memory)
    with pytest.raises(NotificationInvalid):
        WechatPayClient(client.config).parse_payment_notification(got.headers, got.body)


def test_abnormal_refund_is_notified_as_such(client, fake, receiver):
    paid(client, fake, receiver, "JC-RFA0001", 3000)
    fake.pay.refund_outcome = "ABNORMAL"
    client.refund(RefundRequest("RF-JC-RFA0001-1", "JC-RFA0001", 3000, 3000))
    got = receiver.wait(2)[-1]
    notice = client.parse_refund_notification(got.headers, got.body)
    assert notice.event_type == "REFUND.ABNORMAL" and notice.refund.status == RefundStatus.ABNORMAL
    assert client.query_refund("RF-JC-RFA0001-1").status == RefundStatus.ABNORMAL
