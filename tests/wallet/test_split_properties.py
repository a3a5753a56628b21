"""The refund split, as properties: for any top-ups (some partly refunded), any cash and any
request up to what is refundable, the parts sum to the request, each is within its top-up's
remainder, newest top-ups are used up first, and the request is never above the cash."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.wallet.split import Remainder, refundable, split

remainders = st.lists(st.integers(min_value=0, max_value=500_000), max_size=12).map(
    lambda lefts: [Remainder(payment_id=100 - i, left_fen=v) for i, v in enumerate(lefts)])


@settings(max_examples=200, deadline=None)
@given(rems=remainders, cash=st.integers(min_value=0, max_value=6_000_000), data=st.data())
def test_parts_sum_to_the_request_within_each_remainder(rems: list[Remainder], cash: int, data: st.DataObject) -> None:
    can = refundable(cash, rems)
    assert 0 <= can <= cash and can <= sum(r.left_fen for r in rems)
    if can == 0:
        return
    amount = data.draw(st.integers(min_value=1, max_value=can))
    parts = split(amount, rems)
    left = {r.payment_id: r.left_fen for r in rems}
    assert sum(p for _i, p in parts) == amount <= cash
    assert all(0 < p <= left[i] for i, p in parts)
    assert len({i for i, _p in parts}) == len(parts)  # one part per top-up
    order = [r.payment_id for r in rems if r.left_fen > 0]
    used = [i for i, _p in parts]
    assert used == order[:len(used)]  # newest first, no top-up skipped
    assert all(p == left[i] for i, p in parts[:-1])  # each but the last is used up


@given(rems=remainders, extra=st.integers(min_value=1, max_value=1000))
def test_more_than_the_remainders_is_refused(rems: list[Remainder], extra: int) -> None:
    with pytest.raises(ValueError):
        split(sum(r.left_fen for r in rems) + extra, rems)


def test_zero_or_negative_is_refused() -> None:
    for bad in (0, -1):
        with pytest.raises(ValueError):
            split(bad, [Remainder(1, 10)])
