"""What the progress poll's shortcuts rest on (cloud/charging/service.py `_poll_view`)."""

from __future__ import annotations

from cloud.orders.machine import TRANSITIONS, Money, State


def test_bill_lines_exist_only_for_settled_orders() -> None:
    """The poll reads bill lines only for a settled order: lines are booked by a settling
    transition, every one of which ends in `settled`, and no transition leaves `settled`."""
    settling = [(src, ev, to) for (src, ev), (to, money) in TRANSITIONS.items() if money is Money.SETTLE]
    assert settling and all(to is State.SETTLED for _, _, to in settling)
    assert not [k for k in TRANSITIONS if k[0] is State.SETTLED]
