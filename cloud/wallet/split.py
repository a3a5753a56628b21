"""How a balance refund is split across the driver's paid payments (pure, no I/O).

WeChat refunds a payment only back to where it came from and never beyond its amount, so a
refund of X fen becomes parts, one per payment, newest payment first, each at most what that
payment has left unrefunded. The request is at most the refundable amount: the driver's cash
(bonus credit and held money are not refundable) and no more than the payments have left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Remainder:
    payment_id: int
    left_fen: int  # amount minus what refund parts not failed take from it


def refundable(cash_fen: int, remainders: Sequence[Remainder]) -> int:
    """What can be refunded now: the cash, as far as the payments' remainders cover it."""
    return max(0, min(cash_fen, sum(max(0, r.left_fen) for r in remainders)))


def split(amount_fen: int, remainders: Sequence[Remainder]) -> list[tuple[int, int]]:
    """[(payment_id, part_fen)] summing to `amount_fen`, newest first (the order given), each
    part ≤ its payment's remainder. ValueError when the remainders do not cover the amount."""
    if amount_fen <= 0:
        raise ValueError(f"a refund is at least 1 fen, got {amount_fen}")
    parts: list[tuple[int, int]] = []
    left = amount_fen
    for r in remainders:
        if left == 0:
            break
        take = min(left, r.left_fen)
        if take > 0:
            parts.append((r.payment_id, take))
            left -= take
    if left:
        raise ValueError(f"the payments cover {amount_fen - left} of {amount_fen} fen")
    return parts
