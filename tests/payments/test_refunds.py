"""Refunds through our client against the fake: once per out_refund_no (retries, threads),
never more than was paid, and the fake's refund rules matching a simple model (hypothesis)."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.payments.errors import InvalidPaymentRequest, ProviderError
from cloud.payments.provider import NewOrder, RefundRequest, RefundStatus, TradeState
from cloud.payments.wechatpay import WechatPayClient

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
_orders = itertools.count(1)


def paid_order(client, fake, total: int) -> str:
    no = f"JC-RF{next(_orders):08d}"
    client.create_jsapi_order(NewOrder(no, "聚充-钱包充值", total, OPENID))
    fake.pay.pay(no)
    return no


def test_same_out_refund_no_refunds_once(client, fake, receiver):
    no = paid_order(client, fake, 5000)
    req = RefundRequest("RF-1", no, 2000, 5000, reason="余额退款")
    first = client.refund(req)
    again = client.refund(req)  # a retry after a timeout sends exactly the same request
    assert again.refund_id == first.refund_id
    assert fake.pay.orders[no].refunded == 2000
    assert len(fake.pay.refunds) == 1
    receiver.wait(2)  # payment + one refund notification
    assert client.refund(req).status == RefundStatus.SUCCESS
    assert client.query_refund("RF-1").refund_id == first.refund_id
    assert client.query_order(no).trade_state == TradeState.REFUND
    assert len([d for d in fake.pay.deliveries if d.event_type.startswith("REFUND.")]) == 1


def test_same_out_refund_no_with_other_amount_is_refused(client, fake):
    no = paid_order(client, fake, 5000)
    client.refund(RefundRequest("RF-2", no, 2000, 5000))
    with pytest.raises(ProviderError) as e:
        client.refund(RefundRequest("RF-2", no, 2500, 5000))
    assert e.value.code == "INVALID_REQUEST"
    assert fake.pay.orders[no].refunded == 2000


def test_balance_refund_split_in_parts_never_exceeds_the_payment(client, fake):
    no = paid_order(client, fake, 5000)
    parts = [client.refund(RefundRequest(f"RF-P{i}", no, 1500, 5000)) for i in range(3)]
    assert len({p.refund_id for p in parts}) == 3
    with pytest.raises(ProviderError) as e:
        client.refund(RefundRequest("RF-P3", no, 501, 5000))
    assert e.value.code == "INVALID_REQUEST"
    client.refund(RefundRequest("RF-P3", no, 500, 5000))
    assert fake.pay.orders[no].refunded == 5000


def test_refund_rules_refused_before_sending(client, fake):
    no = paid_order(client, fake, 5000)
    seen = len(fake.pay.requests_seen)
    for req, field in [
        (RefundRequest("RF-X", no, 5001, 5000), "refund_fen"),
        (RefundRequest("RF-X", no, 0, 5000), "refund_fen"),
        (RefundRequest("RF X", no, 100, 5000), "out_refund_no"),
        (RefundRequest("R" * 65, no, 100, 5000), "out_refund_no"),
        (RefundRequest("RF-X", no, 100, 5000, reason="长" * 81), "reason"),
        (RefundRequest("RF-X", no, 100, 5000, notify_url="http://cloud.example.cn/r"), "notify_url"),
    ]:
        with pytest.raises(InvalidPaymentRequest) as e:
            client.refund(req)
        assert e.value.field == field
    assert len(fake.pay.requests_seen) == seen


def test_refund_of_unknown_or_unpaid_order_or_wrong_total(client, fake):
    with pytest.raises(ProviderError) as e:
        client.refund(RefundRequest("RF-U1", "JC-NOSUCH1", 100, 100))
    assert (e.value.status, e.value.code) == (404, "RESOURCE_NOT_EXISTS")
    client.create_jsapi_order(NewOrder("JC-UNPAID1", "x", 100, OPENID))
    with pytest.raises(ProviderError) as e:
        client.refund(RefundRequest("RF-U2", "JC-UNPAID1", 100, 100))
    assert e.value.code == "INVALID_REQUEST"
    no = paid_order(client, fake, 5000)
    with pytest.raises(ProviderError) as e:
        client.refund(RefundRequest("RF-U3", no, 100, 4000))
    assert e.value.code == "PARAM_ERROR"
    with pytest.raises(ProviderError) as e:
        client.query_refund("RF-NOSUCH")
    assert e.value.status == 404


def test_concurrent_retries_of_one_refund_refund_once(config, fake):
    client = WechatPayClient(config)
    no = paid_order(client, fake, 10000)
    req = RefundRequest("RF-CONC", no, 7000, 10000)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: client.refund(req), range(16)))
    assert len({r.refund_id for r in results}) == 1
    assert fake.pay.orders[no].refunded == 7000


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(total=st.integers(1, 10_000),
       steps=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 10_000)), min_size=1, max_size=8))
def test_refunds_follow_the_model(client, fake, total, steps):
    """Against any sequence: each out_refund_no refunds once; the sum never exceeds the total."""
    no = paid_order(client, fake, total)
    model: dict[str, int] = {}
    for which, amount in steps:
        rno = f"RF-{no}-{which}"
        if amount > total:
            with pytest.raises(InvalidPaymentRequest):
                client.refund(RefundRequest(rno, no, amount, total))
            continue
        if rno in model and model[rno] != amount:
            expect_ok = False
        elif rno in model:
            expect_ok = True
        else:
            expect_ok = sum(model.values()) + amount <= total
        try:
            r = client.refund(RefundRequest(rno, no, amount, total))
        except ProviderError as e:
            assert not expect_ok, e
            assert e.code == "INVALID_REQUEST"
            continue
        assert expect_ok
        model.setdefault(rno, amount)
        assert (r.refund_fen, r.total_fen) == (amount, total)
    assert fake.pay.orders[no].refunded == sum(model.values()) <= total
