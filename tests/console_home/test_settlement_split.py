"""The owners' split in integers (cloud/settlement/split.py): property tests."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.settlement.split import BP, round_div, split

revenue = st.integers(min_value=-10**12, max_value=10**12)
bp = st.integers(min_value=0, max_value=BP)


@given(revenue, bp, bp)
def test_the_parts_add_up_to_the_revenue(r: int, share: int, commission: int) -> None:
    p = split(r, share, commission)
    assert p.owner + p.commission + p.platform == r


@given(revenue, bp, bp)
def test_each_part_is_its_exact_fraction_rounded(r: int, share: int, commission: int) -> None:
    p = split(r, share, commission)
    assert abs(p.gross - Fraction(r * share, BP)) <= Fraction(1, 2)
    assert abs(p.commission - Fraction(p.gross * commission, BP)) <= Fraction(1, 2)


@given(st.integers(min_value=0, max_value=10**12), bp, bp)
def test_no_part_is_negative_on_positive_revenue(r: int, share: int, commission: int) -> None:
    p = split(r, share, commission)
    assert 0 <= p.owner <= r and 0 <= p.commission <= r and 0 <= p.platform <= r


@given(revenue, bp, bp)
def test_negative_revenue_splits_as_the_mirror_image(r: int, share: int, commission: int) -> None:
    a, b = split(r, share, commission), split(-r, share, commission)
    # half to even is symmetric: -x rounds to -(round x)
    assert (a.owner, a.commission, a.platform) == (-b.owner, -b.commission, -b.platform)


@given(st.integers(min_value=-10**9, max_value=10**9), st.integers(min_value=1, max_value=10**6))
def test_round_div_is_half_to_even(n: int, d: int) -> None:
    assert round_div(n, d) == round(Fraction(n, d))  # Fraction rounds half to even


@given(revenue)
def test_whole_and_nothing(r: int) -> None:
    assert split(r, BP, 0).owner == r and split(r, 0, 0).platform == r
    assert split(r, BP, BP).commission == r


def test_documented_examples() -> None:
    assert split(1001, 7000, 500) == split(1001, 7000, 500)
    p = split(1001, 7000, 500)  # 700.7 → 701; 35.05 → 35; owner 666; platform 300
    assert (p.gross, p.commission, p.owner, p.platform) == (701, 35, 666, 300)
    p = split(5, 5000, 0)  # 2.5 → 2 (half to even)
    assert (p.owner, p.platform) == (2, 3)


@pytest.mark.parametrize("bad", [-1, BP + 1, 1.5, True, "70"])
def test_bad_basis_points_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        split(100, bad, 0)  # type: ignore[arg-type]
