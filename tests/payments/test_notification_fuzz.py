"""A receiver never dies on one message: whatever arrives at the callback — garbage, or even
content validly signed and encrypted but of any shape — parsing returns a notice or raises a
PaymentError, never anything else; and only well-formed content yields a notice."""

from __future__ import annotations

import json
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.fakes.keys import FakeKeys
from cloud.payments.errors import PaymentError
from cloud.payments.wechatpay import aead, signing

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12)


def transaction_like(keys: FakeKeys):
    base = {"mchid": st.just(keys.mchid), "appid": st.just(keys.appid), "out_trade_no": st.just("JC-FUZZ0001"),
            "transaction_id": st.just("4200000000000000000000000001"), "trade_state": st.just("SUCCESS"),
            "amount": st.fixed_dictionaries({"total": st.just(100)}, optional={"payer_total": json_values}),
            "payer": st.just({"openid": "oX"})}
    # each field either as it should be or replaced by anything
    return st.fixed_dictionaries({}, optional={k: v | json_values for k, v in base.items()})


def transfer_like(keys: FakeKeys):
    base = {"mchid": st.just(keys.mchid), "out_bill_no": st.just("WFUZZ0001"),
            "transfer_bill_no": st.just("1330000000000000000000000000000001"),
            "state": st.sampled_from(["SUCCESS", "FAIL", "CANCELLED", "WAIT_USER_CONFIRM"]),
            "transfer_amount": st.just(100), "openid": st.just("oX"), "fail_reason": st.just("")}
    return st.fixed_dictionaries({}, optional={k: v | json_values for k, v in base.items()})


def signed(keys: FakeKeys, body: bytes) -> dict[str, str]:
    ts, nonce = str(int(time.time())), signing.new_nonce()
    return {"Wechatpay-Timestamp": ts, "Wechatpay-Nonce": nonce, "Wechatpay-Serial": keys.wechatpay_public_key_id,
            "Wechatpay-Signature": signing.sign(keys.wechatpay_key, signing.response_message(ts, nonce, body))}


def envelope(keys: FakeKeys, content: object, event: object, original: object) -> bytes:
    ct = aead.encrypt(keys.apiv3_key, nonce="0123456789ab", associated_data="transaction",
                      plaintext=json.dumps(content).encode())
    return json.dumps({"id": "n1", "event_type": event, "resource_type": "encrypt-resource",
                       "resource": {"algorithm": "AEAD_AES_256_GCM", "original_type": original,
                                    "ciphertext": ct, "nonce": "0123456789ab",
                                    "associated_data": "transaction"}}).encode()


@PROPS
@given(data=st.data())
def test_signed_content_of_any_shape_never_crashes_the_parser(keys, client, data):
    content = data.draw(transaction_like(keys) | json_values)
    event = data.draw(st.sampled_from(["TRANSACTION.SUCCESS", "REFUND.SUCCESS"]) | json_values)
    original = data.draw(st.sampled_from(["transaction", "refund"]) | json_values)
    body = envelope(keys, content, event, original)
    for parse in (client.parse_payment_notification, client.parse_refund_notification):
        try:
            notice = parse(signed(keys, body), body)  # signed afresh: never a replay
        except PaymentError:
            continue
        # accepted: then it was exactly a well-formed notification of that kind
        assert parse == client.parse_payment_notification
        assert event == "TRANSACTION.SUCCESS" and original == "transaction"
        tx = notice.transaction
        assert tx.total_fen == 100 and tx.out_trade_no == "JC-FUZZ0001" and tx.transaction_id


@PROPS
@given(data=st.data())
def test_a_transfer_callback_of_any_shape_never_crashes_the_parser(keys, client, data):
    content = data.draw(transfer_like(keys) | json_values)
    event = data.draw(st.sampled_from(["MCHTRANSFER.BILL.FINISHED", "TRANSACTION.SUCCESS"]) | json_values)
    original = data.draw(st.sampled_from(["mch_payment", "transaction"]) | json_values)
    body = envelope(keys, content, event, original)
    try:
        notice = client.parse_transfer_notification(signed(keys, body), body)
    except PaymentError:
        return
    # accepted: then it was a well-formed final-state transfer callback of our merchant
    assert event == "MCHTRANSFER.BILL.FINISHED" and original == "mch_payment"
    assert content["mchid"] == keys.mchid and notice.transfer.state.final
    assert notice.transfer.amount_fen == 100 and notice.transfer.out_bill_no == "WFUZZ0001"


@PROPS
@given(body=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()),
       headers=st.dictionaries(st.sampled_from(["Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial",
                                                "Wechatpay-Signature", "Wechatpay-Signature-Type", "X"]),
                               st.text(max_size=40), max_size=6))
def test_garbage_is_refused_with_a_payment_error(client, body, headers):
    for parse in (client.parse_payment_notification, client.parse_refund_notification,
                  client.parse_transfer_notification):
        try:
            parse(headers, body)
        except PaymentError:
            continue
        raise AssertionError("an unsigned message was accepted")
