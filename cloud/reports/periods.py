"""The report windows, in a station time zone (pure: no I/O).

A window is [start, end) in epoch ms; start None means "since the beginning". Each home figure
has three scopes (today, this month to date, all time) and each scope two comparison windows,
the same window moved back one calendar month (month on month) and one calendar year (year
on year). Moving back keeps the local wall-clock time and clamps the day to the target month
(31 March → 28/29 February), so "today until 10:30" compares with "the same day last month
until 10:30". docs/reports.md defines every figure on these windows.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TZ = "Asia/Shanghai"
SCOPES = ("today", "month", "total")
COMPARE = ("cur", "mom", "yoy")


@dataclass(frozen=True)
class Window:
    start: int | None  # epoch ms, inclusive; None: since the beginning
    end: int  # epoch ms, exclusive


def zone(tz: str | ZoneInfo) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)


def to_ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def local(ms: int, tz: str | ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, zone(tz))


def shift_months(dt: datetime, months: int) -> datetime:
    """The same local wall-clock time `months` calendar months away (day clamped)."""
    m = dt.year * 12 + (dt.month - 1) + months
    y, mo = divmod(m, 12)
    day = min(dt.day, calendar.monthrange(y, mo + 1)[1])
    naive = dt.replace(tzinfo=None).replace(year=y, month=mo + 1, day=day)
    return naive.replace(tzinfo=dt.tzinfo)


def day_start(d: date, tz: str | ZoneInfo) -> int:
    return to_ms(datetime.combine(d, time(0), zone(tz)))


def home_windows(now_ms: int, tz: str | ZoneInfo) -> dict[str, dict[str, Window]]:
    """scope → comparison → window, every window ending at (a shifted) now."""
    z = zone(tz)
    now = local(now_ms, z)
    today0 = datetime.combine(now.date(), time(0), z)
    month0 = today0.replace(day=1)
    out: dict[str, dict[str, Window]] = {}
    for scope, start in (("today", today0), ("month", month0), ("total", None)):
        out[scope] = {}
        for cmp, back in (("cur", 0), ("mom", 1), ("yoy", 12)):
            end = shift_months(now, -back)
            s = None if start is None else to_ms(shift_months(start, -back))
            out[scope][cmp] = Window(s, to_ms(end) if back else now_ms)
    return out


def month_days(now_ms: int, tz: str | ZoneInfo) -> list[date]:
    """Every local date of `now`'s month up to and including today."""
    today = local(now_ms, tz).date()
    return [today.replace(day=d) for d in range(1, today.day + 1)]


def hour_buckets_to_dates(start_ms: int, buckets: list[int], tz: str | ZoneInfo) -> dict[int, date]:
    """Local date of each whole hour after `start_ms` (a local midnight). SQL groups rows by
    (ts - start) / 3600000, which is portable and, for every zone whose offsets differ by
    whole hours (daylight saving included), never splits a local day."""
    z = zone(tz)
    return {b: local(start_ms + b * 3_600_000, z).date() for b in buckets}


def change(cur: int, prev: int) -> float | None:
    """(cur - prev) / prev, rounded to 4 places; None when there is nothing to compare with."""
    if not prev:
        return None
    return round((cur - prev) / prev, 4)


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]
