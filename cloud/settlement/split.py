"""How one fee type's revenue is split between a station's owner and the platform (pure).

Every amount is integer fen, every rate basis points (1 bp = 0.01 %, 10,000 bp = 100 %).
For revenue R of one fee type, the owner's share `share_bp` and the platform's commission
`commission_bp` (taken from the owner's share):

    gross      = round(R * share_bp / 10000)          the owner's share before commission
    commission = round(gross * commission_bp / 10000)  the platform's commission on it
    owner      = gross - commission                    what the owner is owed
    platform   = R - gross                             what the platform keeps unshared

round() is round half to even on the exact fraction (banker's rounding: no bias over many
days, negative revenue rounds as its mirror image), so owner + commission + platform = R
exactly: the last two parts are differences, never rounded themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

BP = 10_000
FEES = ("electricity", "service", "idle")


def round_div(n: int, d: int) -> int:
    """n / d rounded half to even, in integers only (d > 0)."""
    if d <= 0:
        raise ValueError("the divisor is positive")
    q, r = divmod(n, d)  # floor division: 0 <= r < d
    twice = 2 * r
    if twice > d or (twice == d and q % 2 == 1):
        q += 1
    return q


@dataclass(frozen=True)
class Part:
    revenue: int
    owner: int
    commission: int
    platform: int

    @property
    def gross(self) -> int:
        return self.owner + self.commission


def check_bp(bp: int) -> int:
    if isinstance(bp, bool) or not isinstance(bp, int) or not 0 <= bp <= BP:
        raise ValueError(f"basis points are a whole number in 0..{BP}: {bp!r}")
    return bp


def split(revenue: int, share_bp: int, commission_bp: int) -> Part:
    check_bp(share_bp)
    check_bp(commission_bp)
    gross = round_div(revenue * share_bp, BP)
    commission = round_div(gross * commission_bp, BP)
    return Part(revenue=revenue, owner=gross - commission, commission=commission, platform=revenue - gross)
