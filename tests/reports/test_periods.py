"""The report windows: local midnights, month shifts clamped to the month's end."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from cloud.reports.periods import Window, change, home_windows, hour_buckets_to_dates, month_days

SH = ZoneInfo("Asia/Shanghai")


def ms(*a: int, tz: ZoneInfo = SH) -> int:
    return int(datetime(*a, tzinfo=tz).timestamp() * 1000)


def test_windows_mid_month() -> None:
    now = ms(2026, 3, 15, 10, 30)
    w = home_windows(now, SH)
    assert w["today"]["cur"] == Window(ms(2026, 3, 15), now)
    assert w["today"]["mom"] == Window(ms(2026, 2, 15), ms(2026, 2, 15, 10, 30))
    assert w["today"]["yoy"] == Window(ms(2025, 3, 15), ms(2025, 3, 15, 10, 30))
    assert w["month"]["cur"] == Window(ms(2026, 3, 1), now)
    assert w["month"]["mom"] == Window(ms(2026, 2, 1), ms(2026, 2, 15, 10, 30))
    assert w["month"]["yoy"] == Window(ms(2025, 3, 1), ms(2025, 3, 15, 10, 30))
    assert w["total"]["cur"] == Window(None, now)
    assert w["total"]["mom"] == Window(None, ms(2026, 2, 15, 10, 30))


def test_month_end_clamps_and_january_goes_back_a_year() -> None:
    w = home_windows(ms(2026, 3, 31, 23, 0), SH)
    assert w["today"]["mom"] == Window(ms(2026, 2, 28), ms(2026, 2, 28, 23, 0))
    w = home_windows(ms(2024, 2, 29, 12, 0), SH)  # a leap day: last year has none
    assert w["today"]["yoy"] == Window(ms(2023, 2, 28), ms(2023, 2, 28, 12, 0))
    w = home_windows(ms(2026, 1, 10, 8, 0), SH)
    assert w["month"]["mom"] == Window(ms(2025, 12, 1), ms(2025, 12, 10, 8, 0))


def test_day_boundaries_are_the_zones() -> None:
    utc = ZoneInfo("UTC")
    now = ms(2026, 3, 15, 1, 0, tz=utc)  # 09:00 in Shanghai
    assert home_windows(now, SH)["today"]["cur"].start == ms(2026, 3, 15)
    assert home_windows(now, utc)["today"]["cur"].start == ms(2026, 3, 15, tz=utc)
    assert month_days(now, SH)[-1] == date(2026, 3, 15)


def test_hour_buckets_never_split_a_day_across_daylight_saving() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start = ms(2026, 3, 1, tz=berlin)
    hours = list(range(0, 31 * 24 - 1))
    dates = hour_buckets_to_dates(start, hours, berlin)
    # 29 March has 23 hours in Berlin: every hour still lands on its own local date
    assert sum(1 for d in dates.values() if d == date(2026, 3, 29)) == 23
    assert sum(1 for d in dates.values() if d == date(2026, 3, 28)) == 24


def test_change() -> None:
    assert change(150, 100) == 0.5
    assert change(0, 100) == -1.0
    assert change(5, 0) is None
