"""The pure decisions of pile sharing: open windows, whether a gun is open now, the split.

Windows are a weekly schedule in the owner's local time (Asia/Shanghai by default): spans of
a weekday, minutes from midnight, start inclusive, end exclusive ("24:00" ends at midnight);
a span across midnight is two spans. The split of one order (integer fen, basis points):

    commission_line = round_half_even(line * commission_bp / 10000)   per fee line
    owner_line      = line - commission_line
    platform        = sum(commission_line),  owner = sum(owner_line)

Only the commission is rounded; the owner's part is the difference, so owner + platform is
the order's total to the fen for any lines and rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from cloud.settlement.split import BP, round_div

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class RuleError(ValueError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


@dataclass(frozen=True, order=True)
class Window:
    weekday: int  # 0 Monday … 6 Sunday
    start_min: int
    end_min: int

    def to_dict(self) -> dict[str, Any]:
        return {"day": DAYS[self.weekday], "start": _hhmm(self.start_min), "end": _hhmm(self.end_min)}


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(value: Any, field: str, *, end: bool) -> int:
    digits = value[:2] + value[3:] if isinstance(value, str) else ""
    # ASCII digits only: "¹²" counts as digits but int() refuses it
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":" or not (digits.isascii() and digits.isdigit()):
        raise RuleError("invalid_window", f"{field}: a time as HH:MM, got {value!r}")
    h, m = int(value[:2]), int(value[3:])
    if m > 59 or h > 24 or (h == 24 and (m or not end)):
        raise RuleError("invalid_window", f"{field}: 00:00–23:59 (an end may be 24:00), got {value!r}")
    return h * 60 + m


def parse_windows(raw: Any) -> list[Window]:
    """[{"days": ["mon", …], "start": "09:00", "end": "17:00"}, …] → windows, sorted; spans of
    one day may not overlap. At most 50 entries."""
    if not isinstance(raw, list) or len(raw) > 50:
        raise RuleError("invalid_window", "windows: a list of at most 50 {days, start, end}")
    out: list[Window] = []
    for i, w in enumerate(raw):
        if not isinstance(w, dict) or set(w) != {"days", "start", "end"}:
            raise RuleError("invalid_window", f"windows[{i}]: an object with days, start and end")
        days = w["days"]
        if not isinstance(days, list) or not days or any(d not in DAYS for d in days):
            raise RuleError("invalid_window", f"windows[{i}].days: a non-empty list of {', '.join(DAYS)}")
        start = _minutes(w["start"], f"windows[{i}].start", end=False)
        end = _minutes(w["end"], f"windows[{i}].end", end=True)
        if start >= end:
            raise RuleError("invalid_window", f"windows[{i}]: the start is before the end "
                                              "(split a span across midnight in two)")
        out += [Window(DAYS.index(d), start, end) for d in dict.fromkeys(days)]
    out.sort()
    for a, b in zip(out, out[1:], strict=False):
        if a.weekday == b.weekday and b.start_min < a.end_min:
            raise RuleError("invalid_window", f"{DAYS[a.weekday]}: spans {_hhmm(a.start_min)}–{_hhmm(a.end_min)} "
                                              f"and {_hhmm(b.start_min)}–{_hhmm(b.end_min)} overlap")
    return out


def open_at(windows: Iterable[Window], at_ms: int, tz: str) -> bool:
    """Whether the instant `at_ms` falls in one of the windows, in the zone `tz`."""
    local = datetime.fromtimestamp(at_ms / 1000, ZoneInfo(tz))
    day, minute = local.weekday(), local.hour * 60 + local.minute
    return any(w.weekday == day and w.start_min <= minute < w.end_min for w in windows)


def refusal(*, is_owner: bool, is_open: bool, in_window: bool) -> str | None:
    """Why a start or reservation on a shared gun is refused (driver API code), or None. The
    owner always may: it is their own pile."""
    if is_owner:
        return None
    if not is_open:
        return "pile_closed"
    if not in_window:
        return "pile_outside_hours"
    return None


@dataclass(frozen=True)
class Split:
    owner_lines: dict[str, int]  # fee line -> the owner's part
    owner: int
    platform: int


def split(lines: Mapping[str, int], commission_bp: int) -> Split:
    """An order's fee lines (fen, ≥ 0) split between the owner and the platform (docstring)."""
    if isinstance(commission_bp, bool) or not isinstance(commission_bp, int) or not 0 <= commission_bp <= BP:
        raise RuleError("invalid_commission", f"commission: 0..{BP} basis points, got {commission_bp!r}")
    owner_lines: dict[str, int] = {}
    platform = 0
    for name, fen in lines.items():
        commission = round_div(fen * commission_bp, BP)
        owner_lines[name] = fen - commission
        platform += commission
    return Split(owner_lines, sum(owner_lines.values()), platform)
