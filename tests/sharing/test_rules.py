"""The pure rules of pile sharing: windows parsed and checked, open-now on a fake clock in
Asia/Shanghai, who is refused, and the split that loses no fen (hypothesis)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.sharing import rules
from cloud.sharing.rules import RuleError, Window

SH = ZoneInfo("Asia/Shanghai")
WEEKDAYS = [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}]


def at(y: int, mo: int, d: int, h: int, mi: int, tz: ZoneInfo = SH) -> int:
    return int(datetime(y, mo, d, h, mi, tzinfo=tz).timestamp() * 1000)


def test_parse_sorts_and_keeps_one_span_per_day() -> None:
    ws = rules.parse_windows(WEEKDAYS + [{"days": ["sun"], "start": "20:00", "end": "24:00"}])
    assert ws[0] == Window(0, 540, 1020) and ws[-1] == Window(6, 1200, 1440)
    assert len(ws) == 6
    assert ws[-1].to_dict() == {"day": "sun", "start": "20:00", "end": "24:00"}
    assert rules.parse_windows([]) == []


@pytest.mark.parametrize("raw", [
    None, {}, [{"days": ["mon"], "start": "09:00"}], [{"days": [], "start": "09:00", "end": "10:00"}],
    [{"days": ["monday"], "start": "09:00", "end": "10:00"}], [{"days": ["mon"], "start": "9:00", "end": "10:00"}],
    [{"days": ["mon"], "start": "24:00", "end": "24:00"}], [{"days": ["mon"], "start": "10:00", "end": "09:00"}],
    [{"days": ["mon"], "start": "10:60", "end": "11:00"}], [{"days": ["mon"], "start": "22:00", "end": "02:00"}],
    [{"days": ["mon"], "start": "09:00", "end": "12:00"}, {"days": ["mon"], "start": "11:00", "end": "13:00"}],
    [{"days": ["mon"], "start": "09:00", "end": "10:00", "extra": 1}],
    [{"days": ["mon"], "start": "¹²:00", "end": "13:00"}], [{"days": ["mon"], "start": "12:00", "end": "13:²⁰"}],
    [{"days": ["mon"], "start": "１２:00", "end": "13:00"}],
])  # fmt: skip
def test_bad_windows_are_refused_with_a_code(raw: object) -> None:
    with pytest.raises(RuleError) as e:
        rules.parse_windows(raw)
    assert e.value.code == "invalid_window"


def test_open_at_follows_shanghai_time_not_utc() -> None:
    ws = rules.parse_windows(WEEKDAYS)
    # 2026-12-07 is a Monday
    assert rules.open_at(ws, at(2026, 12, 7, 9, 0), "Asia/Shanghai")
    assert rules.open_at(ws, at(2026, 12, 7, 16, 59), "Asia/Shanghai")
    assert not rules.open_at(ws, at(2026, 12, 7, 17, 0), "Asia/Shanghai")  # end exclusive
    assert not rules.open_at(ws, at(2026, 12, 7, 8, 59), "Asia/Shanghai")
    assert not rules.open_at(ws, at(2026, 12, 6, 12, 0), "Asia/Shanghai")  # Sunday
    # Monday 02:00 UTC is 10:00 in Shanghai: open there, not by a UTC reading
    t = at(2026, 12, 7, 2, 0, ZoneInfo("UTC"))
    assert rules.open_at(ws, t, "Asia/Shanghai") and not rules.open_at(ws, t, "UTC")


@given(st.integers(0, 7 * 24 * 60 - 1))
def test_open_at_agrees_with_a_minute_scan(minute_of_week: int) -> None:
    ws = rules.parse_windows(WEEKDAYS + [{"days": ["sat"], "start": "00:00", "end": "01:30"}])
    monday = at(2026, 12, 7, 0, 0)
    day, minute = divmod(minute_of_week, 1440)
    expected = (day < 5 and 540 <= minute < 1020) or (day == 5 and minute < 90)
    assert rules.open_at(ws, monday + minute_of_week * 60_000, "Asia/Shanghai") is expected


@pytest.mark.parametrize("owner, is_open, window, code", [
    (True, False, False, None), (False, False, True, "pile_closed"), (False, True, False, "pile_outside_hours"),
    (False, True, True, None),
])  # fmt: skip
def test_refusal(owner: bool, is_open: bool, window: bool, code: str | None) -> None:
    assert rules.refusal(is_owner=owner, is_open=is_open, in_window=window) == code


def test_split_example_to_the_fen() -> None:
    # 10 % of 1,005 fen electricity is 100.5 → 100 (half to even); of 333 service 33.3 → 33
    p = rules.split({"electricity": 1005, "service": 333, "idle": 0}, 1000)
    assert (p.owner_lines, p.owner, p.platform) == ({"electricity": 905, "service": 300, "idle": 0}, 1205, 133)


@given(st.dictionaries(st.sampled_from(["electricity", "service", "idle"]), st.integers(0, 10**9)),
       st.integers(0, 10_000))
def test_split_loses_no_fen(lines: dict[str, int], bp: int) -> None:
    p = rules.split(lines, bp)
    total = sum(lines.values())
    assert p.owner + p.platform == total
    assert sum(p.owner_lines.values()) == p.owner
    assert all(0 <= p.owner_lines[k] <= v for k, v in lines.items())
    # the commission is the rate of each line, off by at most half a fen per line
    assert abs(p.platform * 10_000 - total * bp) <= 5_000 * len(lines)


@pytest.mark.parametrize("bp", [-1, 10_001, True, 1.5])
def test_split_refuses_a_bad_rate(bp: object) -> None:
    with pytest.raises(RuleError):
        rules.split({"service": 1}, bp)  # type: ignore[arg-type]
